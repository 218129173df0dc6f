# The sampler worker is restarted when it dies, without restarting the
# server, and the cumulative counters and the history survive.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('restart', 'pg_postmaster_stats.sample_interval' => '100ms');

$node->safe_psql('postgres', 'SELECT 1') for 1 .. 20;
my $session = $node->background_psql('postgres');
my ($worker, $pm, $conns, $samples) = split /\|/, $session->query_safe(
	'SELECT worker_pid, postmaster_pid, connections_total, samples_total FROM pg_postmaster_stats');
cmp_ok($conns, '>=', 21, 'connections were counted before the kill');

kill 'TERM', $worker or die "could not signal worker $worker: $!";
is(poll_session($session,
		"SELECT worker_pid IS NOT NULL AND worker_pid <> $worker FROM pg_postmaster_stats", 't', 30),
	't', 'a new sampler worker is started after the old one is killed');

my ($worker2, $pm2, $conns2, $starts) = split /\|/, $session->query_safe(
	'SELECT worker_pid, postmaster_pid, connections_total, worker_starts_total FROM pg_postmaster_stats');
is($pm2, $pm, 'the postmaster was not restarted');
is($conns2, $conns, 'connections_total is exactly what it was: nothing lost');
is($starts, '2', 'worker_starts_total counts the restart');
is(poll_session($session, "SELECT samples_total > $samples + 5 FROM pg_postmaster_stats", 't'),
	't', 'sampling resumes and samples_total continues from where it was');
is($session->query_safe("SELECT count(*) >= $samples FROM pg_postmaster_stats_history"),
	't', 'the history from before the restart is kept');
ok(!$node->log_contains('terminating any other active server processes'),
	'no crash restart of the server');

$session->quit;
$node->stop;
done_testing();
