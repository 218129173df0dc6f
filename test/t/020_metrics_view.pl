# pg_postmaster_stats_metrics: every metric docs/monitoring.md lists, in Prometheus
# naming, with the values of the views it comes from; counters only grow
# until a reset; label values arrive escaped; a source that does not work
# takes its metrics out of the view instead of failing it.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsMonitoring;
use PpsTest;
use Test::More;
use Time::HiRes qw(usleep);

# The metrics table of docs/monitoring.md is the specification:
# family => { kind, labels => 'a,b', source ('always' or a source name) }.
sub documented_metrics
{
	my %spec;
	for (split /\n/, slurp_file(repo_file('docs/monitoring.md')))
	{
		next unless /^\| `(pg_postmaster_[a-z0-9_]+)` \| (\w+) \|\s*([^|]*?)\s*\| (\w+) \|/;
		my ($family, $kind, $labels, $source) = ($1, $2, $3, $4);
		$spec{$family} = {
			kind => $kind,
			labels => join(',', sort($labels =~ /`(\w+)`/g)),
			source => $source
		};
	}
	return \%spec;
}

# family => { kind, labels } as the view has them now.
sub view_families
{
	my ($session) = @_;
	my %f;
	for my $m (values %{ view_metrics($session) })
	{
		my $family = $m->{name};
		$family =~ s/_(bucket|sum|count)$// if $m->{kind} eq 'histogram';
		my $labels = join(',', sort keys %{ $m->{labels} });
		$f{$family}{kind}{ $m->{kind} } = 1;
		$f{$family}{labels}{$labels} = 1;
	}
	return \%f;
}

# The families the table says the view has while these sources are active
# (and, before the first sample, no time of the latest one).
sub expected_families
{
	my ($spec, $session) = @_;
	my %active = map { $_ => 1 } split /\n/,
	  $session->query_safe('SELECT source FROM pg_postmaster_stats_sources WHERE active');
	my $sampled = $session->query_safe('SELECT samples_total > 0 FROM pg_postmaster_stats') eq 't';
	# the cgroup CPU limit exists only where a quota applies
	my $quota = $session->query_safe(
		'SELECT cgroup_cpu_limit_cores IS NOT NULL FROM pg_postmaster_stats') eq 't';
	return join(' ', sort grep {
		($spec->{$_}{source} eq 'always' || $active{ $spec->{$_}{source} })
		  && ($sampled || $_ ne 'pg_postmaster_sampler_last_sample_time_seconds')
		  && ($quota || $_ ne 'pg_postmaster_cgroup_cpu_limit_cores')
	} keys %$spec);
}

# Poll until the view has exactly the expected families; returns both lists.
sub families_settle
{
	my ($spec, $session) = @_;
	my ($want, $got);
	my $deadline = time() + 30;
	do
	{
		$want = expected_families($spec, $session);
		$got = join(' ', sort keys %{ view_families($session) });
		return ($got, $want) if $got eq $want;
		sleep 1;
	} while (time() < $deadline);
	return ($got, $want);
}

my $spec = documented_metrics();
cmp_ok(scalar keys %$spec, '>=', 38, 'docs/monitoring.md lists the metrics');

# a cluster_name with quotes and a backslash: a label value to escape
my $cluster_name = 'pps "fleet" \\ 1';
my $node = pps_node('metrics');
restart_with_cluster_name($node, $cluster_name);
$node->safe_psql('postgres',
	PostgreSQL::Test::Utils::slurp_file("$FindBin::RealBin/../workloads/parallel_churn.sql"));
$node->safe_psql('postgres', 'SELECT pps_churn_setup()');
my $s = $node->background_psql('postgres');
$s->set_query_timer_restart();
poll_session($s, $local_sources_active, 't');

# ---- the specification --------------------------------------------------

my ($got, $want) = families_settle($spec, $s);
is($got, $want, 'the view has exactly the families docs/monitoring.md lists for the working sources');
my $families = view_families($s);
for my $family (sort keys %$spec)
{
	my $f = $families->{$family} or next;
	is(join(',', sort keys %{ $f->{kind} }), $spec->{$family}{kind},
		"$family is a $spec->{$family}{kind}");
	my $labels = join(' | ', sort keys %{ $f->{labels} });
	my $want_labels = $spec->{$family}{labels};
	if ($spec->{$family}{kind} eq 'histogram')
	{
		# _bucket has le, _sum and _count have none
		my @own = grep { $_ ne 'le' } split /,/, $want_labels;
		$want_labels = join(' | ', join(',', @own), join(',', sort(@own, 'le')));
	}
	is($labels, $want_labels, "$family has the labels docs/monitoring.md lists");
}

# ---- Prometheus naming and well-formed rows --------------------------------

is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE name !~ '^pg_postmaster_[a-z0-9_]*[a-z0-9]$'}),
	'0', 'every name is a Prometheus metric name with the pg_postmaster_ prefix');
is($s->query_safe(q{SELECT string_agg(DISTINCT kind, ',' ORDER BY kind) FROM pg_postmaster_stats_metrics}),
	'counter,gauge,histogram', 'kinds are counter, gauge and histogram');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE (kind = 'counter') <> (name ~ '_total$')}),
	'0', 'counters, and only counters, end in _total');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE kind = 'histogram' AND name !~ '_seconds_(bucket|sum|count)$'}),
	'0', 'histogram rows are _seconds_bucket, _seconds_sum and _seconds_count');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE name ~ '_(pct|ms|us|ns|kb|mb)(_|$)'}),
	'0', 'base units only: no percent, milli/micro/nanoseconds or kilobytes');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics, jsonb_each(labels) l
	WHERE l.key !~ '^[a-zA-Z_][a-zA-Z0-9_]*$' OR l.key LIKE '\_\_%' OR jsonb_typeof(l.value) <> 'string'}),
	'0', 'label names are valid Prometheus label names, label values strings');
is($s->query_safe(q{SELECT count(*) FROM (SELECT name, labels FROM pg_postmaster_stats_metrics
	GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'no series appears twice');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE value IS NULL OR value IN ('NaN', 'Infinity', '-Infinity')}),
	'0', 'every value is a finite number');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_metrics
	WHERE name LIKE '%\_ratio' AND value NOT BETWEEN 0 AND 1.05}),
	'0', 'ratios are between 0 and 1');

# ---- values are the views' ---------------------------------------------------

sub metric
{
	my ($name, $labels) = @_;
	$labels //= '{}';
	return $s->query_safe(
		"SELECT value FROM pg_postmaster_stats_metrics WHERE name = '$name' AND labels = '$labels'");
}

is( $s->query_safe(q{
	SELECT (SELECT value FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_connections_setup_seconds_sum')
	     = connection_setup_seconds_total
	   AND (SELECT value FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_listen_queue_max')
	     = accept_queue_max
	   AND (SELECT value FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_memory_pagetable_bytes')
	     = postmaster_pagetable_bytes
	  FROM pg_postmaster_stats}),
	't', 'values are the pg_postmaster_stats columns, in base units');
is( $s->query_safe(q{
	SELECT count(*) FROM pg_postmaster_stats_children c
	  JOIN pg_postmaster_stats_metrics m
	    ON m.name = 'pg_postmaster_child_processes' AND m.labels->>'backend_type' = c.backend_type
	   AND m.value = c.children}),
	$s->query_safe('SELECT count(*) FROM pg_postmaster_stats_children WHERE children IS NOT NULL'),
	'one pg_postmaster_child_processes series per backend type, with its count');
is( $s->query_safe(q{
	SELECT count(*) FROM pg_postmaster_stats_limits l
	  JOIN pg_postmaster_stats_metrics m
	    ON m.name = 'pg_postmaster_limit_headroom_ratio' AND m.labels->>'limit' = l.limit_name
	   AND m.value = l.headroom_pct / 100}),
	$s->query_safe('SELECT count(*) FROM pg_postmaster_stats_limits WHERE headroom_pct IS NOT NULL'),
	'one headroom series per measured limit, pct / 100');

# 2 clients, 25 transactions each, a new connection per transaction, and
# pgbench's setup connection: 51.
my $c0 = metric('pg_postmaster_connections_total');
my $n0 = metric('pg_postmaster_connections_setup_seconds_count');
$node->command_ok(
	[
		'pgbench', '-n', '-C', '-c', '2', '-t', '25',
		'-f', "$FindBin::RealBin/../workloads/select1.sql",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'pgbench -C -c 2 -t 25');
is(metric('pg_postmaster_connections_total') - $c0, 51,
	'pgbench -C -c 2 -t 25 moves pg_postmaster_connections_total by exactly 51');
is(metric('pg_postmaster_connections_setup_seconds_count') - $n0, 51,
	'and the histogram _count by exactly 51');

# 5 parallel queries with 2 workers each: 10 planned, 10 launched.
my $p0 = metric('pg_postmaster_parallel_workers_planned_total');
my $l0 = metric('pg_postmaster_parallel_workers_launched_total');
$node->safe_psql('postgres', 'SELECT pps_parallel_churn(5, 2)');
is(metric('pg_postmaster_parallel_workers_planned_total') - $p0, 10,
	'5 parallel queries with 2 workers move planned workers by exactly 10');
is(metric('pg_postmaster_parallel_workers_launched_total') - $l0, 10, 'and launched by exactly 10');

# ---- histograms ------------------------------------------------------------------

for my $h ('pg_postmaster_connections_setup_seconds', 'pg_postmaster_snapshot_seconds')
{
	is( $s->query_safe(qq{
		SELECT bool_and(count >= prev) AND bool_and(le > prev_le)
		  FROM (SELECT value AS count, lag(value, 1, 0) OVER w AS prev,
		               (labels->>'le')::float8 AS le,
		               lag((labels->>'le')::float8, 1, 0) OVER w AS prev_le
		          FROM pg_postmaster_stats_metrics WHERE name = '${h}_bucket'
		        WINDOW w AS (ORDER BY (labels->>'le')::float8)) b}),
		't', "$h: le ascends and bucket counts are cumulative");
	is( $s->query_safe(qq{
		SELECT (SELECT value FROM pg_postmaster_stats_metrics
		         WHERE name = '${h}_bucket' AND labels->>'le' = '+Inf')
		     = (SELECT value FROM pg_postmaster_stats_metrics WHERE name = '${h}_count')}),
		't', "$h: the +Inf bucket is the _count");
}

# ---- counters only grow between resets ---------------------------------------------

my $churn = IPC::Run::start(
	[
		'pgbench', '-n', '-C', '-c', '2', '-T', '4',
		'-f', "$FindBin::RealBin/../workloads/select1.sql",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \my $churn_out, '2>', \my $churn_err);
my $counters = q{SELECT name || labels::text, value FROM pg_postmaster_stats_metrics
	WHERE kind = 'counter' OR name ~ '_(bucket|count|sum)$'};
my %last;
my @decreased;
my $reads = 0;
my $grew = 0;
while ($churn->pumpable || !%last)
{
	for (split /\n/, $s->query_safe($counters))
	{
		my ($k, $v) = split /\|/;
		push @decreased, "$k: $last{$k} -> $v" if defined $last{$k} && $v < $last{$k};
		$grew++ if defined $last{$k} && $v > $last{$k};
		$last{$k} = $v;
	}
	$reads++;
	$churn->pump_nb;
	usleep(200_000);
}
$churn->finish;
cmp_ok($reads, '>=', 10, "$reads readings during a 4 s connection storm");
cmp_ok($grew, '>', 0, 'counters grew during it');
is(join("\n", @decreased), '', 'no counter or histogram series ever decreased');

my $reset0 = metric('pg_postmaster_stats_reset_time_seconds');
$s->query_safe('SELECT pg_postmaster_stats_reset()');
cmp_ok(metric('pg_postmaster_stats_reset_time_seconds'), '>', $reset0,
	'pg_postmaster_stats_reset() moves pg_postmaster_stats_reset_time_seconds');
is(metric('pg_postmaster_connections_total') . ' ' . metric('pg_postmaster_connections_setup_seconds_count'),
	'0 0', 'and counters start again from 0');

# ---- label values arrive escaped ------------------------------------------------------

my $info = $s->query_safe(q{SELECT labels FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_stats_info'});
is($s->query_safe(q{SELECT labels->>'cluster_name' FROM pg_postmaster_stats_metrics
	WHERE name = 'pg_postmaster_stats_info'}),
	$cluster_name, 'a label value with quotes and a backslash comes out exactly');
like($info, qr/"cluster_name": "pps \\"fleet\\" \\\\ 1"/, 'escaped in the labels JSON');
is($s->query_safe(q{SELECT labels->>'version' FROM pg_postmaster_stats_metrics
	WHERE name = 'pg_postmaster_stats_info'}),
	$s->query_safe(q{SELECT extversion FROM pg_extension WHERE extname = 'pg_postmaster_stats'}),
	'pg_postmaster_stats_info carries the extension version');

# ---- privileges ----------------------------------------------------------------------------

$node->safe_psql('postgres', 'CREATE ROLE pps_watcher LOGIN IN ROLE pg_monitor; CREATE ROLE pps_nobody LOGIN');
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM pg_postmaster_stats_metrics',
		extra_params => [ '-U', 'pps_watcher' ]),
	't', 'pg_monitor members can read the view');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM pg_postmaster_stats_metrics',
	extra_params => [ '-U', 'pps_nobody' ]);
like($err, qr/permission denied for view pg_postmaster_stats_metrics/, 'others cannot');

# ---- a source that does not work takes its metrics out ---------------------------------

$s->query_safe('ALTER SYSTEM SET pg_postmaster_stats.snapshot_probe = off');
$s->query_safe('SELECT pg_reload_conf()');
poll_session($s, q{SELECT NOT active FROM pg_postmaster_stats_sources WHERE source = 'snapshot_probe'}, 't');
($got, $want) = families_settle($spec, $s);
is($got, $want, 'snapshot_probe off: its metrics leave the view, all others stay');
unlike($got, qr/pg_postmaster_snapshot/, 'no pg_postmaster_snapshot_* family is left');
is(metric('pg_postmaster_stats_source_active', '{"source": "snapshot_probe"}'), '0',
	'pg_postmaster_stats_source_active{source="snapshot_probe"} is 0');

$s->query_safe('ALTER SYSTEM SET pg_postmaster_stats.enabled = off');
$s->query_safe('SELECT pg_reload_conf()');
poll_session($s, q{SELECT bool_or(active) FROM pg_postmaster_stats_sources WHERE source <> 'sampler_worker'}, 'f');
($got, $want) = families_settle($spec, $s);
is($got, $want, 'enabled = off: only the always-present families remain');
is( $got,
	join(' ', sort grep { $spec->{$_}{source} eq 'always' } keys %$spec),
	'namely the sampler, reset, info and source_active families');

$s->query_safe('ALTER SYSTEM RESET ALL');
$s->query_safe('SELECT pg_reload_conf()');
poll_session($s, $local_sources_active, 't');
($got, $want) = families_settle($spec, $s);
is($got, $want, 'back on: the families of every working source are back');
$s->quit;
$node->stop;

# No slot for the sampler: every sampled source is inactive, the view works.
$node->append_conf('postgresql.conf', 'max_worker_processes = 1');
$node->start;
$s = $node->background_psql('postgres');
$s->set_query_timer_restart();
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_sources WHERE active AND source <> 'sampler_worker'}),
	'0', 'max_worker_processes = 1: no sampled source is active');
($got, $want) = families_settle($spec, $s);
is($got, $want, 'the view answers with the families of the working sources only');
$s->quit;
$node->stop;

# A hot standby: the view works there, with the replay source active, and
# pg_postmaster_replay_headroom_ratio is the replay view's headroom (absent
# while it is NULL: an idle startup process gives no capacity estimate).
my $primary = pps_node('metrics_primary', _init => { allows_streaming => 1 });
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('metrics_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
$primary->safe_psql('postgres', 'CREATE TABLE replayed AS SELECT 1 AS x');
$primary->wait_for_catchup($standby);
$s = $standby->background_psql('postgres');
$s->set_query_timer_restart();
is(poll_session($s, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'replay'}, 't'),
	't', 'standby: the replay source is active');
is( $s->query_safe(q{
	SELECT (SELECT value FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_replay_headroom_ratio')
	       IS NOT DISTINCT FROM
	       (SELECT replay_headroom FROM pg_postmaster_stats_replay WHERE kind = 'local_replay')}),
	't', 'standby: pg_postmaster_replay_headroom_ratio is replay_headroom of the local replay row');
# polled: startup CPU needs the sampler's second reading
is( poll_session($s, q{
	SELECT bool_and(m.value IS NOT DISTINCT FROM v.value) AND count(m.value) = 7
	  FROM pg_postmaster_stats_replay r
	 CROSS JOIN LATERAL (VALUES
	    ('pg_postmaster_replay_lag_bytes', r.replay_lag_bytes::float8),
	    ('pg_postmaster_replay_lag_seconds', r.replay_lag_seconds),
	    ('pg_postmaster_replay_paused', r.replay_paused::int),
	    ('pg_postmaster_replay_receive_rate_bytes_per_second', r.receive_rate_bytes_per_s),
	    ('pg_postmaster_replay_rate_bytes_per_second', r.replay_rate_bytes_per_s),
	    ('pg_postmaster_replay_startup_cpu_busy_ratio', r.startup_cpu_pct / 100),
	    ('pg_postmaster_replay_startup_cpu_wait_ratio', r.startup_cpu_wait_pct / 100)) AS v(name, value)
	  LEFT JOIN pg_postmaster_stats_metrics m USING (name)
	 WHERE r.kind = 'local_replay'}, 't'),
	't', 'standby: lag, rates and startup CPU are the local replay row\'s, in base units');
is( $primary->safe_psql('postgres', q{
	SELECT count(*) FROM pg_postmaster_stats_metrics
	 WHERE name = 'pg_postmaster_standby_replay_lag_bytes'
	   AND labels->>'application_name' = 'metrics_standby'
	   AND labels->>'walsender_pid' = (SELECT pid::text FROM pg_stat_replication)}),
	'1', 'primary: its standby\'s replay lag in bytes, labelled with application_name and walsender pid');
cmp_ok($s->query_safe(q{SELECT count(DISTINCT name) FROM pg_postmaster_stats_metrics}), '>=', 30,
	'standby: the view answers with the other sources\' metrics too');
$s->quit;
$standby->stop;
$primary->stop;

# Not preloaded: the documented error, like every other entry point.
my $bare = PostgreSQL::Test::Cluster->new('metrics_not_preloaded');
$bare->init;
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION pg_postmaster_stats');
($ret, $out, $err) = $bare->psql('postgres', 'SELECT * FROM pg_postmaster_stats_metrics',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: pg_postmaster_stats must be loaded via shared_preload_libraries/,
	'not preloaded: SQLSTATE 55000 and the message');
$bare->stop;

done_testing();
