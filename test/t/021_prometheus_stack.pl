# The real stack on loopback: Debian's postgres_exporter with our queries
# file exports exactly the metrics view (families, types, labels, values),
# Debian's Prometheus scrapes it every second and sees connections per
# second under a connection storm, our rules load and evaluate, label
# escaping survives end to end, and an inactive source drops out of the
# scrape instead of breaking it.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsMonitoring;
use PpsTest;
use Test::More;
use Time::HiRes qw(usleep);

my $missing = monitoring_binaries_missing();
plan skip_all => "needs Debian's exporter and Prometheus: $missing" if $missing;

my $cluster_name = 'pps "fleet" \\ 1';
my $node = pps_node('stack', _init => { allows_streaming => 1 });
restart_with_cluster_name($node, $cluster_name);
$node->safe_psql('postgres', 'CREATE ROLE pps_exporter LOGIN IN ROLE pg_monitor');
my $s = $node->background_psql('postgres');
$s->set_query_timer_restart();
poll_session($s, $local_sources_active, 't');
poll_session($s, q{SELECT count(*) FROM pg_postmaster_stats_metrics WHERE name LIKE 'pg_postmaster_cpu%'}, '4');

my $exporter = start_exporter($node, 'pps_exporter');
http_get($exporter->{url});    # the first scrape opens the exporter's connection

# ---- the exporter exports the view ------------------------------------------

# The extension's own CPU grows with every reading (the SQL functions
# count themselves): those counters are compared as before <= scrape <= after.
my $self_cost = qr/^pg_postmaster_stats_overhead_cpu_seconds_total\{/;

sub same_view
{
	my ($a, $b) = @_;
	return 0 unless join(' ', sort keys %$a) eq join(' ', sort keys %$b);
	return !grep { $_ !~ $self_cost && $a->{$_}{value} ne $b->{$_}{value} } keys %$a;
}

# A scrape between two identical readings of the view (no sample, no
# connection in between) must show exactly those values: every series of
# the view, with its value, and no pg_postmaster_ series besides.
sub scrape_matches_view
{
	my ($session, $exp, $what) = @_;
	my ($view, $scrape, $view_after);
	for (1 .. 30)
	{
		my $before = view_metrics($session);
		my $text = http_get($exp->{url});
		my $after = view_metrics($session);
		if (same_view($before, $after))
		{
			($view, $scrape, $view_after) = ($before, parse_exposition($text), $after);
			last;
		}
	}
	ok($view, "$what: a scrape between two identical readings of the view");
	$view //= {};
	$scrape //= { types => {}, samples => {}, help => {} };

	my (@absent, @different, @extra);
	for my $key (sort keys %$view)
	{
		my $e = $scrape->{samples}{$key};
		if (!$e) { push @absent, $key; next; }
		if ($key =~ $self_cost)
		{
			push @different, "$key: exporter $e->{value}, view $view->{$key}{value} before, $view_after->{$key}{value} after"
			  unless $e->{value} ne 'NaN' && $e->{value} >= $view->{$key}{value}
			  && $e->{value} <= $view_after->{$key}{value};
			next;
		}
		push @different, "$key: view $view->{$key}{value}, exporter $e->{value}"
		  unless $e->{value} ne 'NaN' && $e->{value} == $view->{$key}{value};
	}
	for my $key (sort keys %{ $scrape->{samples} })
	{
		my $e = $scrape->{samples}{$key};
		push @extra, $e->{line} if $e->{name} =~ /^pg_postmaster_/ && !$view->{$key};
	}
	is(join("\n", @absent), '', "$what: every series of the view is in the scrape");
	is(join("\n", @different), '', "$what: with the same value");
	is(join("\n", @extra), '', "$what: the scrape has no pg_postmaster_ series the view does not have");
	is($scrape->{samples}{'pg_exporter_last_scrape_error{}'}{value}, '0', "$what: no query failed");
	return ($view, $scrape);
}

my ($view, $scrape) = scrape_matches_view($s, $exporter, 'primary');

my %kind;
for my $m (values %$view)
{
	my $family = $m->{name};
	$family =~ s/_(bucket|sum|count)$// if $m->{kind} eq 'histogram';
	$kind{$family} = $m->{kind};
}
cmp_ok(scalar keys %kind, '>=', 38, scalar(keys %kind) . ' metric families in the view');
for my $family (sort keys %kind)
{
	is($scrape->{types}{$family}, $kind{$family}, "$family: # TYPE $kind{$family}");
	like($scrape->{help}{$family} // '', qr/\w+ \w+/, "$family: # HELP describes it");
}
for my $family (grep { $kind{$_} eq 'histogram' } sort keys %kind)
{
	my ($sum) = grep { $_->{name} eq "${family}_sum" } values %{ $scrape->{samples} };
	ok($sum && $sum->{value} ne 'NaN' && $sum->{value} >= 0, "$family: _sum is a number");
}
is(join(',', map { $_->{value} } grep { $_->{name} eq 'pg_exporter_user_queries_load_error' }
	  values %{ $scrape->{samples} }), '0', 'the queries file loaded');

my ($info) = grep { /^pg_postmaster_stats_info\{/ } split /\n/, http_get($exporter->{url});
like($info, qr/cluster_name="pps \\"fleet\\" \\\\ 1"/,
	'a label value with quotes and a backslash is escaped in the exposition format');

# ---- Prometheus ----------------------------------------------------------------

my $prom = start_prometheus($exporter);

sub poll_prom
{
	my ($expr, $test) = @_;
	my $deadline = time() + 30;
	my $r;
	do
	{
		$r = prom_query($prom, $expr);
		my $v = $r->{status} eq 'success' ? $r->{data}{result} : undef;
		return $r if $v && @$v && $test->($v);
		usleep(250_000);
	} while (time() < $deadline);
	return $r;
}

my $up = poll_prom('up{job="postgres"}', sub { $_[0][0]{value}[1] == 1 });
is($up->{data}{result}[0]{value}[1], '1', 'Prometheus scrapes the exporter');

my $churn = IPC::Run::start(
	[
		'pgbench', '-n', '-C', '-c', '4', '-j', '2', '-T', '20',
		'-f', "$FindBin::RealBin/../workloads/select1.sql",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \my $churn_out, '2>', \my $churn_err);
my $rate = poll_prom('rate(pg_postmaster_connections_total[5s])', sub { $_[0][0]{value}[1] > 0 });
my $running = $churn->pumpable;
my $per_s = $rate->{data}{result}[0]{value}[1] // 'none';
cmp_ok($per_s, '>', 0, "rate(pg_postmaster_connections_total[5s]) is positive under pgbench -C: $per_s/s");
ok($running, 'measured while the connection storm runs');
my $recorded = poll_prom('pg_postmaster:connections:rate1m', sub { $_[0][0]{value}[1] > 0 });
cmp_ok($recorded->{data}{result}[0]{value}[1] // 0, '>', 0,
	'the recording rule pg_postmaster:connections:rate1m follows');
$churn->finish;

my $p99 = poll_prom('histogram_quantile(0.99, rate(pg_postmaster_connections_setup_seconds_bucket[30s]))',
	sub { $_[0][0]{value}[1] > 0 });
my $p99_s = $p99->{data}{result}[0]{value}[1] // 'none';
ok($p99_s =~ /^[0-9.e+-]+$/ && $p99_s > 0 && $p99_s < 34,
	"histogram_quantile over the connection setup buckets works: p99 $p99_s s");

my $labels = poll_prom('pg_postmaster_stats_info', sub { 1 });
is($labels->{data}{result}[0]{metric}{cluster_name}, $cluster_name,
	'Prometheus stores the escaped label value exactly');

# every rule of rules.yml loads and evaluates without error
my $deadline = time() + 30;
my @unhealthy;
do
{
	my $rules = decode_json(http_get("$prom->{base}/api/v1/rules"));
	my @all = map { @{ $_->{rules} } } @{ $rules->{data}{groups} };
	@unhealthy = map { "$_->{name}: $_->{health} $_->{lastError}" } grep { $_->{health} ne 'ok' } @all;
	@unhealthy = ('no rules loaded') unless @all;
	usleep(250_000) if @unhealthy;
} while (@unhealthy && time() < $deadline);
is(join("\n", @unhealthy), '', 'every rule of rules.yml is loaded and evaluates');

# ---- an inactive source leaves the scrape, the scrape still works --------------

$s->query_safe('ALTER SYSTEM SET pg_postmaster_stats.snapshot_probe = off');
$s->query_safe('SELECT pg_reload_conf()');
poll_session($s, q{SELECT NOT active FROM pg_postmaster_stats_sources WHERE source = 'snapshot_probe'}, 't');
my $off = parse_exposition(http_get($exporter->{url}));
is(join(' ', grep { /^pg_postmaster_snapshot/ } sort keys %{ $off->{types} }), '',
	'snapshot_probe off: no pg_postmaster_snapshot_* family in the scrape');
is(join(' ', map { $_->{line} } grep { $_->{name} =~ /^pg_postmaster_/ && $_->{value} eq 'NaN' }
	  values %{ $off->{samples} }), '', 'and no NaN instead');
is($off->{samples}{'pg_postmaster_stats_source_active{source="snapshot_probe"}'}{value}, '0',
	'pg_postmaster_stats_source_active{source="snapshot_probe"} says why');
ok($off->{types}{pg_postmaster_connections_total}, 'the other sources are still exported');
is($off->{samples}{'pg_exporter_last_scrape_error{}'}{value}, '0', 'and no query failed');

# ---- replay: a standby's own replay, and the primary's standbys --------------

$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('stack_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$s->query_safe('CREATE TABLE replay_t(i int); INSERT INTO replay_t VALUES (1)');
$node->wait_for_catchup($standby);
my $ss = $standby->background_psql('postgres');
$ss->set_query_timer_restart();
# lag, paused, rates and catch-up (0: caught up) at once; startup CPU after
# the sampler's second reading
poll_session($ss, q{SELECT count(*) FROM pg_postmaster_stats_metrics WHERE name LIKE 'pg_postmaster_replay_%'}, '8');
poll_session($s, q{SELECT count(*) FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_standby_replay_lag_bytes'
	AND labels->>'application_name' = 'stack_standby'}, '1');
my $standby_exporter = start_exporter($standby, 'pps_exporter');
http_get($standby_exporter->{url});
my ($sview, $sscrape) = scrape_matches_view($ss, $standby_exporter, 'standby');
is(join(' ', sort grep { /^pg_postmaster_replay_/ } keys %{ $sscrape->{types} }),
	'pg_postmaster_replay_catchup_seconds pg_postmaster_replay_lag_bytes pg_postmaster_replay_lag_seconds pg_postmaster_replay_paused '
	  . 'pg_postmaster_replay_rate_bytes_per_second pg_postmaster_replay_receive_rate_bytes_per_second '
	  . 'pg_postmaster_replay_startup_cpu_busy_ratio pg_postmaster_replay_startup_cpu_wait_ratio',
	'the standby exports its replay lag, rates, startup CPU and catch-up time (capacity and headroom need a busy startup process)');
my ($pview, $pscrape) = scrape_matches_view($s, $exporter, 'primary with a standby');
my ($lag) = grep { $_->{name} eq 'pg_postmaster_standby_replay_lag_bytes' } values %{ $pscrape->{samples} };
like($lag ? $lag->{line} : '', qr/application_name="stack_standby"/,
	'the primary exports its standby\'s replay lag labelled with its application_name');
$ss->quit;
$standby->stop;

stop_all();
$s->quit;
$node->stop;
done_testing();
