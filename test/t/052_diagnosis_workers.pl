# The diagnosis on real workloads of workers and snapshots: parallel churn,
# max_worker_processes exhausted, 500 idle connections, a transaction with 70
# subtransactions.  Each case checks that exactly the expected findings
# appear over its window, and that their samples and since are those the
# documented rules give on the history's rows (PpsDiag recomputes them).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use PpsDiag;
use Test::More;

my $workloads = "$FindBin::RealBin/../workloads";
my $node = pps_node('diag_workers',
	autovacuum => 'off',
	max_connections => 600,
	max_worker_processes => 16,
	max_parallel_workers => 16,
	'pg_postmaster_stats.sample_interval' => '500ms');
$node->safe_psql('postgres', slurp_file("$workloads/parallel_churn.sql"));
$node->safe_psql('postgres', 'SELECT pps_churn_setup(2000)');
my $s = $node->background_psql('postgres');
pps_require_bpf($s);

my $last_sample = q{SELECT %s FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1};
my @par_cols = qw(interval_seconds parallel_workers_planned_per_s parallel_workers_launched_per_s
  forks_per_s connections_per_s bgworker_slots_in_use client_backends);

sub pgbench
{
	my ($script, @opt) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', @opt, '-f', $script, '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# every source needed is on before the first window (eBPF attaches after start)
poll_session($s, q{SELECT bool_and(active) FROM pg_postmaster_stats_sources
	WHERE source <> 'replay'}, 't');
samples_pass($s, 3);

# ---- an idle server: nothing ---------------------------------------------

my $mark = diag_mark($s);
samples_pass($s, 6);
diag_check($s, $mark, [], 'idle');

# ---- parallel churn ------------------------------------------------------

# Short queries that all get 2 parallel workers, 2 clients at 20 queries/s
# in all for 8 s: 40 workers/s, every query forks two, with enough slots
# (3 static + 4 < 16).  The rate is capped so that 2 CPUs are not saturated
# (uncapped, 425 workers/s here also made the postmaster wait for a CPU
# 50% of the time or more: postmaster_cpu_starved, rightly).
my $script = PostgreSQL::Test::Utils::tempdir() . '/parallel.sql';
PostgreSQL::Test::Utils::append_to_file($script, "SELECT sum(id) FROM pps_churn_data;\n");
$mark = diag_mark($s);
samples_pass($s, 2);
{
	local $ENV{PGOPTIONS} = '-c parallel_setup_cost=0 -c parallel_tuple_cost=0 '
	  . '-c min_parallel_table_scan_size=0 -c max_parallel_workers_per_gather=2';
	my ($h, $out, $err) = pgbench($script, '-c', 2, '-j', 1, '-R', 20, '-T', 8);
	ok($h->finish, 'pgbench parallel churn ran') or diag($$err);
	note("pgbench: " . join(' ', grep { /tps|transactions/ } split /\n/, $$out));
}
samples_pass($s, 3);
note("history, parallel churn:\n" . diag_history_table($s, $mark, @par_cols));
diag_check($s, $mark, ['parallel_worker_churn'], 'parallel churn');

# ---- a transaction with 70 subtransactions -------------------------------

$mark = diag_mark($s);
samples_pass($s, 2);
my $sub = $node->background_psql('postgres');
$sub->query_safe(slurp_file("$workloads/subxact_overflow.sql"));
# snapshots see the overflowed transaction once a later xid completes
$node->safe_psql('postgres', 'SELECT txid_current()');
poll_session($s, sprintf($last_sample, 'snapshot_suboverflowed'), 't');
samples_pass($s, 3);
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_diagnosis WHERE finding = 'subtransaction_overflow'}),
	'1', 'subtransactions: the last minute\'s diagnosis shows subtransaction_overflow while it lasts');
$sub->query_safe('COMMIT');
$sub->quit;
poll_session($s, sprintf($last_sample, 'snapshot_suboverflowed'), 'f');
samples_pass($s, 2);
note("history, subtransactions:\n"
	  . diag_history_table($s, $mark, qw(snapshot_suboverflowed snapshot_subxcnt snapshot_xcnt snapshot_ns snapshot_procs)));
diag_check($s, $mark, ['subtransaction_overflow'], 'subtransactions');

# ---- 500 idle connections ------------------------------------------------

# The baseline is the history's lowest snapshot_ns: the idle samples above.
# The connections open in 5 batches of 100, 1 s apart, so that opening them
# is no burst of forks: a burst of 500 can keep the postmaster busy or the
# accept queue full for several samples on a loaded machine, which the
# diagnosis would rightly report (postmaster_*, accept_backlog).
my $IDLE = 500;
$mark = diag_mark($s);
samples_pass($s, 2);
{
	my @bench;
	for my $batch (1 .. 5)
	{
		push @bench, [ pgbench("$workloads/idle_connections.sql", '-c', $IDLE / 5, '-j', 1, '-T', 14) ];
		sleep 1;
	}
	is(poll_session($s, sprintf($last_sample, "client_backends >= $IDLE"), 't', 120),
		't', "$IDLE idle connections are open");
	samples_pass($s, 4);
	is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_diagnosis WHERE finding = 'snapshot_cost_high'}),
		'1', 'idle connections: the last minute\'s diagnosis shows snapshot_cost_high while they are open');
	for my $b (@bench)
	{
		my ($h, $out, $err) = @$b;
		ok($h->finish, 'pgbench idle connections ran') or diag($$err);
	}
}
poll_session($s, sprintf($last_sample, 'client_backends <= 2'), 't');
samples_pass($s, 2);
note("history, idle connections:\n"
	  . diag_history_table($s, $mark, qw(client_backends connections_per_s snapshot_ns snapshot_procs limits_min_headroom_pct limits_min_name)));
diag_check($s, $mark, ['snapshot_cost_high'], "$IDLE idle connections");

$s->quit;
$node->stop;

# ---- max_worker_processes exhausted --------------------------------------

# 5 slots, 3 taken by static workers (sampler, snapshot probe, logical
# replication launcher): one query whose 2 workers sleep holds the last two
# for about 8 s; meanwhile short parallel queries plan workers that cannot
# launch, so planned > launched in every sample too.
$node->append_conf('postgresql.conf', "max_worker_processes = 5\nmax_parallel_workers = 5");
$node->start;
$s = $node->background_psql('postgres');
pps_require_bpf($s);
$node->safe_psql('postgres', q{
	CREATE FUNCTION pps_slow(i bigint) RETURNS bigint LANGUAGE plpgsql PARALLEL SAFE
	AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN i; END $$;
	CREATE TABLE pps_slow_rows (id bigint) WITH (parallel_workers = 2);
	INSERT INTO pps_slow_rows SELECT generate_series(1, 1600);
	ANALYZE pps_slow_rows});
samples_pass($s, 3);
$mark = diag_mark($s);
samples_pass($s, 2);
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
	SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;
	SET parallel_leader_participation = off});
# 1600 rows x 10 ms over 2 workers: about 8 s
$holder->query_until(qr/holder_started/,
	"\\echo holder_started\nSELECT sum(pps_slow(id)) FROM pps_slow_rows;\n\\echo holder_done\n");
is(poll_session($s, sprintf($last_sample, 'bgworker_slots_in_use'), '5'), '5', 'all 5 slots in use');
{
	local $ENV{PGOPTIONS} = '-c parallel_setup_cost=0 -c parallel_tuple_cost=0 '
	  . '-c min_parallel_table_scan_size=0 -c max_parallel_workers_per_gather=2';
	my ($h, $out, $err) = pgbench($script, '-c', 1, '-R', 20, '-T', 4);
		ok($h->finish, 'pgbench short parallel queries ran') or diag($$err);
}
$holder->query_until(qr/holder_done/, '');
$holder->quit;
poll_session($s, sprintf($last_sample, 'bgworker_slots_in_use'), '3');
samples_pass($s, 3);
note("history, slots exhausted:\n" . diag_history_table($s, $mark, @par_cols));
# the slots are also a limit of pg_postmaster_stats_limits, at 0 headroom
my $got = diag_check($s, $mark, [ 'bgworker_slots_exhausted', 'limit_near', 'parallel_worker_churn' ],
	'slots exhausted');
is($got->{limit_near}{evidence}{limits_min_name}, 'bgworker_slots', 'limit_near names the bgworker slots');
is($got->{bgworker_slots_exhausted}{evidence}{bgworker_slots_total}, 5,
	'bgworker_slots_exhausted quotes max_worker_processes = 5');

$s->quit;
$node->stop;
done_testing();
