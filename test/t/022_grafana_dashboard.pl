# monitoring/grafana/dashboard.json: every key panel exists twice, over SQL
# and over PromQL; every SQL panel, with Grafana's macros expanded, runs
# against a live server as a pg_monitor member and returns a time column
# and the columns its legend expects, with data; every PromQL expression
# runs against a live Prometheus scraping the exporter and returns series.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsGrafana;
use PpsMonitoring;
use PpsTest;
use Test::More;

# The panels, and the columns each SQL variant returns after "time".
my %sql_columns = (
	'Postmaster CPU' => 'busy user system waiting_for_cpu',
	'Accept queue' => 'depth drops_per_s',
	'Connections per second' => 'connections auth_failures',
	'Connection setup time' => 'mean p99',
	'Children by type' =>
	  'client_backends background_workers autovacuum_workers walsenders unregistered',
	'Parallel workers' => 'planned launched',
	'Snapshot cost' => 'median max',
	'Lowest limit headroom' => 'lowest_headroom',
	'Forks, exits and reaps' => 'forks exits abnormal_exits reaps',
	'Fork time and reap latency' => 'fork_mean reap_latency_mean',
	'Replay headroom' => 'headroom',
	'Diagnosis' => 'severity finding since samples summary remedy',
	'Extension CPU' => 'sampler',
);
# Table panels: no time column; their rows are the findings active now,
# none on a healthy server.
my %table = ('Diagnosis' => 1);
# Panels that show data only while this source is active.
my %needs = (
	'Forks, exits and reaps' => 'ebpf',
	'Fork time and reap latency' => 'ebpf',
	'Replay headroom' => 'replay',
);

my $dash = dashboard_load(repo_file('monitoring/grafana/dashboard.json'));
my @panels = dashboard_panels($dash);

# ---- the dashboard's shape --------------------------------------------------

my %vars = map { $_->{name} => $_ } @{ $dash->{templating}{list} };
is(join(' ', map { "$_=$vars{$_}{type}" } sort keys %vars),
	'instance=query postgres=datasource prometheus=datasource',
	'variables: a PostgreSQL and a Prometheus data source, and the instances');
is($vars{postgres}{query}, 'postgres', 'the PostgreSQL variable lists PostgreSQL data sources');

my (%sql, %prom);
for my $p (@panels)
{
	my ($title, $variant) = $p->{title} =~ /^(.*) \((SQL|Prometheus)\)$/
	  or fail("panel title '$p->{title}' names its variant"), next;
	my $want_ds = $variant eq 'SQL' ? 'postgres' : 'prometheus';
	is($p->{datasource}{uid}, "\${$want_ds}", "$p->{title}: on the $want_ds variable");
	ok(@{ $p->{targets} // [] } > 0, "$p->{title}: has queries");
	($variant eq 'SQL' ? \%sql : \%prom)->{$title} = $p;
}
is(join(', ', sort keys %sql), join(', ', sort keys %sql_columns), 'the SQL panels');
is(join(', ', sort keys %prom), join(', ', sort keys %sql_columns), 'each has its Prometheus twin');

# ---- a live server with some history, the exporter and Prometheus ------------

my $node = pps_node('grafana', 'pg_postmaster_stats.sample_interval' => '500ms',
	# the fork time and reap latency panel shows data only with it on
	'pg_postmaster_stats.ebpf_syscalls' => 'on');
$node->safe_psql('postgres', 'CREATE ROLE pps_grafana LOGIN IN ROLE pg_monitor');
$node->safe_psql('postgres',
	PostgreSQL::Test::Utils::slurp_file("$FindBin::RealBin/../workloads/parallel_churn.sql"));
$node->safe_psql('postgres', 'SELECT pps_churn_setup()');

my $missing = monitoring_binaries_missing();
my ($exporter, $prom);
if (!$missing)
{
	$exporter = start_exporter($node, 'pps_grafana');
	$prom = start_prometheus($exporter);
}

my $from = time();
my $churn = IPC::Run::start(
	[
		'pgbench', '-n', '-C', '-c', '2', '-T', '8',
		'-f', "$FindBin::RealBin/../workloads/select1.sql",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \my $churn_out, '2>', \my $churn_err);
$node->safe_psql('postgres', 'SELECT pps_parallel_churn(10, 2)') for 1 .. 5;
$churn->finish;
sleep 2;    # one more sample after the storm
my $to = time();
my %active = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', 'SELECT source FROM pg_postmaster_stats_sources WHERE active');
sub has_data { my ($title) = @_; return !$needs{$title} || $active{ $needs{$title} }; }

# ---- every SQL panel runs, as Grafana would send it ----------------------------

for my $title (sort keys %sql)
{
	my $target = $sql{$title}{targets}[0];
	if ($table{$title})
	{
		is($target->{format}, 'table', "$title (SQL): a table");
		my ($ret, $out, $err) = $node->psql('postgres', $target->{rawSql},
			extra_params => [ '-U', 'pps_grafana', '-F', "\t", '-P', 'tuples_only=off', '-P', 'footer=off' ]);
		is("$ret $err", '0 ', "$title (SQL): runs as a pg_monitor member");
		is((split /\n/, $out)[0] // '', join("\t", split(/ /, $sql_columns{$title})),
			"$title (SQL): columns $sql_columns{$title}");
		next;
	}
	is($target->{format}, 'time_series', "$title (SQL): a time series");
	for my $interval ('1s', '5s')
	{
		my $query = expand_sql($target->{rawSql}, from => $from, to => $to, interval => $interval);
		my ($ret, $out, $err) = $node->psql('postgres', $query,
			extra_params => [ '-U', 'pps_grafana', '-F', "\t", '-P', 'tuples_only=off', '-P', 'footer=off' ]);
		is("$ret $err", '0 ', "$title (SQL), \$__interval $interval: runs as a pg_monitor member");
		my ($header, @rows) = split /\n/, $out;
		is($header // '', join("\t", 'time', split(/ /, $sql_columns{$title})),
			"$title (SQL), $interval: columns time, $sql_columns{$title}");
		cmp_ok(scalar @rows, '>=', $interval eq '1s' ? 8 : 2,
			"$title (SQL), $interval: " . scalar(@rows) . ' points');
		my @times = map { (split /\t/)[0] } @rows;
		ok(!grep({ $times[$_] !~ /^\d+$/ || $times[$_] <= ($_ ? $times[ $_ - 1 ] : 0) } 0 .. $#times),
			"$title (SQL), $interval: time is epoch seconds, ascending");
		my @cols = split / /, $sql_columns{$title};
		next unless has_data($title);    # without its source: columns, no data
		for my $c (0 .. $#cols)
		{
			ok(grep({ ((split /\t/, $_, -1)[ $c + 1 ] // '') ne '' } @rows),
				"$title (SQL), $interval: $cols[$c] has data");
		}
	}
}

# ---- every PromQL expression runs and finds series --------------------------------

SKIP:
{
	skip "needs Debian's exporter and Prometheus: $missing", 1 if $missing;

	my $instance = "127.0.0.1:$exporter->{port}";
	my $values = http_get("$prom->{base}/api/v1/label/instance/values?match[]=pg_postmaster_stats_info");
	like($values, qr/"\Q$instance\E"/, 'the instance variable query finds the server');

	for my $title (sort keys %prom)
	{
		for my $target (@{ $prom{$title}{targets} })
		{
			my $expr = expand_promql($target->{expr},
				rate_interval => '10s', interval => '2s', instance => $instance);
			my $r = prom_query($prom, $expr);
			is($r->{status}, 'success', "$title (Prometheus) $target->{refId}: valid PromQL")
			  or diag("$expr: $r->{error}");
			next unless has_data($title) && !$table{$title};
			cmp_ok(scalar @{ $r->{data}{result} // [] }, '>', 0,
				"$title (Prometheus) $target->{refId}: returns series");
		}
	}
	# the diagnosis table filters on == 1: the series behind it are all there
	my $findings = $node->safe_psql('postgres',
		'SELECT count(DISTINCT finding) FROM pg_postmaster_stats_diagnosis_rules');
	my $r = prom_query($prom, "pg_postmaster_diagnosis_active{instance=\"$instance\"}");
	is(scalar @{ $r->{data}{result} // [] }, $findings,
		"Diagnosis (Prometheus): one pg_postmaster_diagnosis_active series per finding ($findings)");
	stop_all();
}

$node->stop;
done_testing();
