# Cross-check of the connection_setup histogram with the server's own
# measurement: from 18 on, log_connections = 'setup_durations' logs, for
# every connection, its total setup time (accept to ready for query), the
# fork and the authentication.  Ours runs from the child's first instant
# after the fork to the authentication decision, so for every connection
# authentication <= ours <= total - fork, and so for their medians.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $major = pps_major();
plan skip_all => "log_connections = 'setup_durations' is new in PostgreSQL 18 (testing $major)"
  if $major < 18;

my $node = pps_node('setup_durations', log_connections => q{'setup_durations'});
my $s = $node->background_psql('postgres');

# connection_setup histogram: [upper bound in microseconds, cumulative count]
sub histogram
{
	return [ map { [ split /\|/ ] } split /\n/, $s->query_safe(q{
		SELECT CASE WHEN le_seconds = 'Infinity' THEN -1 ELSE round(le_seconds * 1e6) END, count
		  FROM pg_postmaster_stats_latency WHERE metric = 'connection_setup' ORDER BY le_seconds}) ];
}

my $N = 200;
my $h0 = histogram();
my $log_offset = -s $node->logfile;
$node->command_ok(
	[ 'pgbench', '-n', '-C', '-c', '1', '-t', $N, '-f', "$FindBin::RealBin/../workloads/select1.sql", 'postgres' ],
	"pgbench -C -t $N");
my $h1 = histogram();

# the server's lines for the same connections (pgbench's, nothing else
# connected meanwhile)
my (@auth, @after_fork);
for (split /\n/, slurp_file($node->logfile, $log_offset))
{
	next unless /connection ready: setup total=([\d.]+) ms, fork=([\d.]+) ms, authentication=([\d.]+) ms/;
	push @after_fork, ($1 - $2) * 1000;
	push @auth, $3 * 1000;
}
is(scalar @auth, $N + 1, 'the server logged the setup of N+1 connections = ' . ($N + 1));
my $ours = $h1->[-1][1] - $h0->[-1][1];
is($ours, scalar @auth, 'connection_setup counted exactly the connections the server logged');

# our median's bucket: (lower, upper] in microseconds
my ($lower, $upper) = (0, undef);
for my $k (0 .. $#$h1)
{
	my $n = $h1->[$k][1] - $h0->[$k][1];
	if ($n * 2 >= $ours)
	{
		$upper = $h1->[$k][0];
		last;
	}
	$lower = $h1->[$k][0];
}
my ($med_auth, $med_after_fork) = (median(@auth), median(@after_fork));
note(sprintf('our median in (%s, %s] us; the server: authentication %.0f us, total - fork %.0f us',
	$lower, $upper, $med_auth, $med_after_fork));
ok($upper == -1 || $upper >= $med_auth,
	"our median's bucket (upper bound $upper us) is not below the server's authentication median ("
	  . sprintf('%.0f', $med_auth) . ' us)');
cmp_ok($lower, '<=', $med_after_fork,
	"our median's bucket (lower bound $lower us) is not above the server's setup-after-fork median ("
	  . sprintf('%.0f', $med_after_fork) . ' us)');

$s->quit;
$node->stop;
done_testing();
