# Without shared_preload_libraries, CREATE EXTENSION works and every entry
# point says exactly what is missing.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_postmaster_stats');
pass('CREATE EXTENSION succeeds without the library preloaded');

for my $query (
	'SELECT * FROM pg_postmaster_stats',
	'SELECT * FROM pg_postmaster_stats_history',
	'SELECT * FROM pg_postmaster_stats_latency',
	'SELECT * FROM pg_postmaster_stats_children',
	'SELECT * FROM pg_postmaster_stats_sources',
	'SELECT pg_postmaster_stats_reset()')
{
	my ($ret, $out, $err) = $node->psql('postgres', $query,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "$query fails");
	like($err, qr/ERROR:  55000: pg_postmaster_stats must be loaded via shared_preload_libraries/,
		"$query: SQLSTATE 55000 (object_not_in_prerequisite_state) and the message");
	like($err, qr/HINT:  Add pg_postmaster_stats to the shared_preload_libraries setting in postgresql.conf and restart the server\./,
		"$query: the hint names the setting");
}

$node->stop;
done_testing();
