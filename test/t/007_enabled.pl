# pg_postmaster_stats.enabled = off stops sampling and counting, says so in
# the sources view, and on resumes both, all with a reload.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('enabled', 'pg_postmaster_stats.sample_interval' => '100ms');
my $session = $node->background_psql('postgres');

$session->query_safe('ALTER SYSTEM SET pg_postmaster_stats.enabled = off');
$session->query_safe('SELECT pg_reload_conf()');
is(poll_session($session,
		q{SELECT count(*) FILTER (WHERE NOT active AND detail LIKE '%enabled is off%')
		       = count(*) FILTER (WHERE source <> 'sampler_worker')
		  FROM pg_postmaster_stats_sources},
		't'),
	't', 'every source reports that collection is switched off');

my ($samples, $conns) = split /\|/,
  $session->query_safe('SELECT samples_total, connections_total FROM pg_postmaster_stats');
$node->safe_psql('postgres', 'SELECT 1') for 1 .. 5;
sleep 1;
my ($samples2, $conns2) = split /\|/,
  $session->query_safe('SELECT samples_total, connections_total FROM pg_postmaster_stats');
is($samples2, $samples, 'no samples are taken while disabled');
is($conns2, $conns, 'no connections are counted while disabled');

$session->query_safe('ALTER SYSTEM RESET pg_postmaster_stats.enabled');
$session->query_safe('SELECT pg_reload_conf()');
# replay is inactive on a server that is neither a standby nor a primary with
# standbys, ebpf without the loader's capabilities (test 012 covers it): they
# must still stop saying that collection is off
is(poll_session($session, q{SELECT bool_and(detail NOT LIKE '%enabled is off%'
		AND (active OR source IN ('replay', 'ebpf'))) FROM pg_postmaster_stats_sources}, 't'),
	't', 'sources are active again after enabling');
$node->safe_psql('postgres', 'SELECT 1') for 1 .. 5;
is($session->query_safe('SELECT connections_total FROM pg_postmaster_stats') - $conns,
	5, 'connections are counted again, exactly');

$session->quit;
$node->stop;
done_testing();
