# Background-worker churn: parallel workers planned vs launched (executor
# hook), registered vs terminated and dynamic registrations (the server's
# registry), exact for a known workload, with and without enough slots, and
# with pg_stat_statements loaded before or after us.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $workload = "$FindBin::RealBin/../workloads/parallel_churn.sql";

my $node = pps_node('bgworkers',
	max_worker_processes => 16,
	max_parallel_workers => 16,
	'pg_postmaster_stats.sample_interval' => '100ms');
$node->safe_psql('postgres', PostgreSQL::Test::Utils::slurp_file($workload));
$node->safe_psql('postgres', 'SELECT pps_churn_setup()');

my $session = $node->background_psql('postgres');
my $cols = 'parallel_workers_planned_total, parallel_workers_launched_total, '
  . 'parallel_workers_registered_total, parallel_workers_terminated_total, '
  . 'registrations_total, parallel_queries_total, parallel_workers_shortfall_total';

sub counters
{
	my @v = split /\|/, $session->query_safe("SELECT $cols FROM pg_postmaster_stats_bgworkers");
	my %h;
	@h{qw(planned launched registered terminated registrations queries shortfall)} = @v;
	return \%h;
}

sub delta
{
	my ($a, $b) = @_;
	return { map { $_ => $b->{$_} - $a->{$_} } keys %$a };
}

# Wait until the sampler has folded the registry's counters in.
sub settled
{
	my ($base, $n) = @_;
	poll_session($session, qq{
		SELECT parallel_workers_terminated_total - $base->{terminated} >= $n
		   AND registrations_total - $base->{registrations} >= $n
		  FROM pg_postmaster_stats_bgworkers}, 't');
	return delta($base, counters());
}

my $idle_slots = poll_session($session,
	'SELECT slots_in_use FROM pg_postmaster_stats_bgworkers WHERE sampled_at IS NOT NULL', '3');
is($idle_slots, '3',
	'idle: three static workers hold slots (sampler, snapshot probe, logical replication launcher)');
is($session->query_safe('SELECT slots_total FROM pg_postmaster_stats_bgworkers'),
	'16', 'slots_total is max_worker_processes');

# K queries, W workers each, with enough slots: everything moves by K*W.
my ($K, $W) = (10, 3);
my $c0 = counters();
$node->safe_psql('postgres', "SELECT pps_parallel_churn($K, $W)");
my $d = settled($c0, $K * $W);
is($d->{queries}, $K, "$K parallel queries counted");
is($d->{planned}, $K * $W, "planned moves by exactly K*W = " . $K * $W);
is($d->{launched}, $K * $W, 'launched moves by exactly K*W');
is($d->{shortfall}, 0, 'no shortfall with enough slots');
is($d->{registered}, $K * $W, 'the registry registered exactly K*W parallel workers');
is($d->{terminated}, $K * $W, 'and terminated exactly K*W');
is($d->{registrations}, $K * $W, 'dynamic registrations (slot generations) move by exactly K*W');
is(poll_session($session, 'SELECT slots_in_use FROM pg_postmaster_stats_bgworkers', $idle_slots),
	$idle_slots, 'slot usage returns to the idle value after the burst');
is($session->query_safe('SELECT parallel_workers_active FROM pg_postmaster_stats_bgworkers'),
	'0', 'no parallel worker is active after the burst');

# The per-interval history accounts for every launched worker: rate times
# interval, summed over the samples, is the cumulative count.
is( poll_session($session, q{
		SELECT round(sum(parallel_workers_launched_per_s * interval_seconds))
		     = (SELECT parallel_workers_launched_total FROM pg_postmaster_stats)
		  FROM pg_postmaster_stats_history}, 't'),
	't', 'history rates integrate exactly to parallel_workers_launched_total');

# EXPLAIN without ANALYZE plans workers but launches none: not demand.
$c0 = counters();
$node->safe_psql('postgres', q{
	SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
	SET max_parallel_workers_per_gather = 3;
	EXPLAIN SELECT sum(id) FROM pps_churn_data});
is(delta($c0, counters())->{planned}, 0, 'EXPLAIN without ANALYZE is not counted');

$session->quit;
$node->stop;

# Too few slots: 5 slots, 3 taken by static workers, so at most 2 of the 3
# planned workers per query can launch.
$node->append_conf('postgresql.conf', 'max_worker_processes = 5');
$node->start;
$session = $node->background_psql('postgres');
poll_session($session, 'SELECT sampled_at IS NOT NULL FROM pg_postmaster_stats_bgworkers', 't');
$c0 = counters();
$node->safe_psql('postgres', "SELECT pps_parallel_churn($K, $W)");
$d = delta($c0, counters());
is($d->{planned}, $K * $W, 'with 2 free slots, planned still moves by K*W');
cmp_ok($d->{launched}, '<', $d->{planned}, "fewer launched ($d->{launched}) than planned");
cmp_ok($d->{launched}, '<=', $K * 2, 'at most the 2 free slots per query launched');
is($d->{shortfall}, $d->{planned} - $d->{launched}, 'shortfall = planned - launched, exactly');
$session->quit;
$node->stop;

# Hooks chain with pg_stat_statements, loaded before or after us.
for my $order ('pg_stat_statements,pg_postmaster_stats', 'pg_postmaster_stats,pg_stat_statements')
{
	$node->append_conf('postgresql.conf', "shared_preload_libraries = '$order'\nmax_worker_processes = 16");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
	$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
	$session = $node->background_psql('postgres');
	$c0 = counters();
	$node->safe_psql('postgres', "SELECT pps_parallel_churn($K, $W)");
	$d = delta($c0, counters());
	is($d->{planned}, $K * $W, "$order: planned moves by exactly K*W");
	is($d->{launched}, $K * $W, "$order: launched moves by exactly K*W");
	is($session->query_safe(q{SELECT sum(calls) FROM pg_stat_statements
		WHERE query LIKE 'SELECT pps_parallel_churn%'}), '1',
		"$order: pg_stat_statements still sees the call");
	$session->quit;
	$node->stop;
}

done_testing();
