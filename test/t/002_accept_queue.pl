# A stopped postmaster leaves new connections in the kernel's listen queues;
# accept_queue_depth must show exactly how many, and drop back once it runs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('accept',
	listen_addresses => "'127.0.0.1'",
	'pg_postmaster_stats.sample_interval' => '100ms');

# Readings go through a session opened before the stop: a stopped postmaster
# cannot accept a new one.
my $session = $node->background_psql('postgres');
my $pm_pid = $session->query_safe('SELECT postmaster_pid FROM pg_postmaster_stats');
my $conns_before = $session->query_safe('SELECT connections_total FROM pg_postmaster_stats');
is(poll_session($session, 'SELECT accept_queue_depth FROM pg_postmaster_stats', '0'),
	'0', 'nothing is queued on an idle server');
is($session->query_safe('SELECT listen_sockets FROM pg_postmaster_stats'),
	'2', 'the TCP and the Unix listening sockets are both watched');

my ($M_unix, $M_tcp) = (12, 5);
my @clients;
END { kill 'CONT', $pm_pid if $pm_pid; }

kill 'STOP', $pm_pid or die "could not stop the postmaster: $!";
for my $i (1 .. $M_unix + $M_tcp)
{
	my $host = $i <= $M_unix ? $node->host : '127.0.0.1';
	my ($out, $err) = ('', '');
	push @clients,
	  IPC::Run::start(
		[ 'psql', '-X', '-At', '-h', $host, '-p', $node->port, '-d', 'postgres', '-c', 'SELECT 1' ],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}

my $M = $M_unix + $M_tcp;
is( poll_session($session,
		'SELECT accept_queue_depth FROM pg_postmaster_stats', "$M"),
	"$M",
	"with the postmaster stopped, a sample shows all $M connections ($M_unix Unix + $M_tcp TCP) queued");
is($session->query_safe('SELECT accept_queue_max > 0 FROM pg_postmaster_stats'),
	't', 'the queue capacity is reported');
is($session->query_safe('SELECT connections_total FROM pg_postmaster_stats'),
	$conns_before, 'queued connections have not reached authentication');

kill 'CONT', $pm_pid;
$pm_pid = undef;
$_->finish for @clients;
is(scalar(grep { $_->result == 0 } @clients), $M, 'every queued client got in after SIGCONT');

is(poll_session($session, 'SELECT accept_queue_depth FROM pg_postmaster_stats', '0'),
	'0', 'the queue drains once the postmaster runs again');
is($session->query_safe('SELECT connections_total FROM pg_postmaster_stats') - $conns_before,
	$M, 'and each queued connection was then counted once');

$session->quit;
$node->stop;
done_testing();
