# Connection counting is exact: every connection that reaches authentication
# moves connections_total by one, every failed password by one.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('connections',
	listen_addresses => "'127.0.0.1'",
	password_encryption => "'scram-sha-256'");
my $port = $node->port;

$node->safe_psql('postgres', "CREATE ROLE pwuser LOGIN PASSWORD 'right'");
open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
print $hba "local all all trust\n";
print $hba "host all pwuser 127.0.0.1/32 scram-sha-256\n";
print $hba "host all all 127.0.0.1/32 trust\n";
close $hba;
$node->reload;

sub counters
{
	my $r = $node->safe_psql('postgres',
		'SELECT connections_total, auth_failures_total FROM pg_postmaster_stats');
	return split /\|/, $r;
}

# N plain connections: each psql is one connection, and so is the reading query.
my ($c0, $f0) = counters();
my $N = 50;
$node->safe_psql('postgres', 'SELECT 1') for 1 .. $N;
my ($c1, $f1) = counters();
is($c1 - $c0, $N + 1, "$N connections (plus the reader) move connections_total by exactly " . ($N + 1));
is($f1 - $f0, 0, 'successful connections are not authentication failures');

# pgbench -C: one setup connection, then one connection per transaction.
my ($clients, $tx) = (2, 100);
$node->command_ok(
	[ 'pgbench', '-n', '-C', '-c', $clients, '-t', $tx, '-f', "$FindBin::RealBin/../workloads/select1.sql", 'postgres' ],
	'pgbench -C runs');
my ($c2, $f2) = counters();
is($c2 - $c1, 1 + $clients * $tx + 1,
	'pgbench -C -c 2 -t 100: 200 connections + its setup connection + the reader');

# Failed password authentications over TCP, counted exactly.
my $F = 7;
for my $i (1 .. $F)
{
	$node->connect_fails(
		"host=127.0.0.1 port=$port user=pwuser password=wrong dbname=postgres",
		"wrong password $i",
		expected_stderr => qr/password authentication failed/);
}
$node->connect_ok("host=127.0.0.1 port=$port user=pwuser password=right dbname=postgres",
	'right password');
my ($c3, $f3) = counters();
is($f3 - $f2, $F, "$F wrong passwords move auth_failures_total by exactly $F");
is($c3 - $c2, $F + 1 + 1, 'failed and successful attempts are all connections');

# The connection-setup histogram saw every connection, with sane latencies.
my $hist = $node->safe_psql('postgres', q{
	SELECT (SELECT count FROM pg_postmaster_stats_latency
	         WHERE metric = 'connection_setup' AND le_seconds = 'Infinity')
	       = connections_total,
	       connection_setup_seconds_total / connections_total
	  FROM pg_postmaster_stats});
my ($same, $avg) = split /\|/, $hist;
is($same, 't', 'the +Inf bucket of connection_setup equals connections_total');
ok($avg > 0 && $avg < 5, "mean fork-to-authentication time is plausible ($avg s)");

$node->stop;
done_testing();
