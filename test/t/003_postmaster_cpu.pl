# postmaster_cpu_pct tracks the postmaster's own thread: near zero when idle,
# clearly higher under a connection storm (pgbench -C), where it forks and
# reaps for every transaction.
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
	my ($t0, $t1) = @_;
	my $rows = $node->safe_psql('postgres', qq{
		SELECT postmaster_cpu_pct FROM pg_postmaster_stats_history
		 WHERE "time" > '$t0' AND "time" <= '$t1' AND postmaster_cpu_pct IS NOT NULL});
	return split /\n/, $rows;
}

sub now { return $node->safe_psql('postgres', 'SELECT clock_timestamp()'); }

my $idle_start = now();
sleep 3;
my $idle_end = now();

my $busy_start = now();
$node->command_ok(
	[ 'pgbench', '-n', '-C', '-c', '4', '-j', '2', '-T', '5',
	  '-f', "$FindBin::RealBin/../workloads/select1.sql", 'postgres' ],
	'connection storm with pgbench -C');
my $busy_end = now();

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

$node->stop;
done_testing();
