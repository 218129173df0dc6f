# postmaster_cpu_pct tracks the postmaster's own thread: near zero when idle,
# clearly higher under a connection storm (pgbench -C), where it forks and
# reaps for every transaction.  postmaster_cpu_wait_pct is the time it was
# runnable but had no CPU: near zero when idle, high when the postmaster
# shares its one allowed CPU with a busy loop during a storm.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('cpu', 'pg_postmaster_stats.sample_interval' => '200ms');

sub cpu_since
{
	my ($t0, $t1, $column) = @_;
	$column //= 'postmaster_cpu_pct';
	my $rows = $node->safe_psql('postgres', qq{
		SELECT $column FROM pg_postmaster_stats_history
		 WHERE "time" > '$t0' AND "time" <= '$t1' AND $column IS NOT NULL});
	return split /\n/, $rows;
}

sub now { return $node->safe_psql('postgres', 'SELECT clock_timestamp()'); }

# A connection storm of $seconds; returns its start and end as the server saw them.
sub storm
{
	my ($seconds, $what) = @_;
	my $start = now();
	$node->command_ok(
		[ 'pgbench', '-n', '-C', '-c', '4', '-j', '2', '-T', $seconds,
		  '-f', "$FindBin::RealBin/../workloads/select1.sql", 'postgres' ],
		$what);
	return ($start, now());
}

my $idle_start = now();
sleep 3;
my $idle_end = now();

my ($busy_start, $busy_end) = storm(5, 'connection storm with pgbench -C');

my @idle = cpu_since($idle_start, $idle_end);
my @busy = cpu_since($busy_start, $busy_end);
cmp_ok(scalar(@idle), '>=', 5, 'idle samples were taken');
cmp_ok(scalar(@busy), '>=', 10, 'samples were taken during the storm');

my ($idle_cpu, $busy_cpu) = (median(@idle), median(@busy));
note("postmaster CPU median: idle $idle_cpu %, pgbench -C $busy_cpu %");
cmp_ok($busy_cpu, '>', $idle_cpu + 1,
	'postmaster_cpu_pct rises under pgbench -C compared with idle');
cmp_ok($busy_cpu, '<=', 101, 'a single-threaded process stays within one core');

my $rate = $node->safe_psql('postgres', qq{
	SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY connections_per_s)
	  FROM pg_postmaster_stats_history WHERE "time" > '$busy_start' AND "time" <= '$busy_end'});
cmp_ok($rate, '>', 10, "connections_per_s reflects the storm ($rate/s)");

# ---- waiting for a CPU -----------------------------------------------------------

my @idle_wait = cpu_since($idle_start, $idle_end, 'postmaster_cpu_wait_pct');
cmp_ok(scalar(@idle_wait), '==', scalar(@idle), 'postmaster_cpu_wait_pct is sampled with postmaster_cpu_pct');
my $idle_wait = median(@idle_wait);
cmp_ok($idle_wait, '<', 5, "idle: the postmaster hardly waits for a CPU ($idle_wait %)");

# The postmaster and a busy loop share CPU 0 (children inherit the affinity).
my $pm_pid = $node->safe_psql('postgres', 'SELECT postmaster_pid FROM pg_postmaster_stats');
my $cpus = `taskset -p $pm_pid 2>&1`;
SKIP:
{
	skip "taskset cannot pin the postmaster: $cpus", 3
	  unless system('taskset', '-p', '-c', '0', $pm_pid) == 0;
	my $burner = fork();
	if ($burner == 0)
	{
		exec('taskset', '-c', '0', 'perl', '-e', 'my $t = time + 30; 1 while time < $t');
	}
	my ($contended_start, $contended_end) =
	  storm(4, 'connection storm with the postmaster sharing CPU 0 with a busy loop');
	kill 'KILL', $burner;
	waitpid($burner, 0);
	my @wait = cpu_since($contended_start, $contended_end, 'postmaster_cpu_wait_pct');
	my $wait = median(@wait);
	note("postmaster waiting for a CPU, median: idle $idle_wait %, contended $wait %");
	cmp_ok($wait, '>', $idle_wait + 5, 'postmaster_cpu_wait_pct rises when the postmaster shares its CPU');
	my $over = $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_postmaster_stats_history
		 WHERE "time" > '$contended_start' AND "time" <= '$contended_end'
		   AND postmaster_cpu_pct + postmaster_cpu_wait_pct > 105});
	is($over, '0', 'on CPU plus waiting never exceeds the interval');
}

$node->stop;
done_testing();
