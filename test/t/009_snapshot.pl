# The snapshot probe: exact xid counts, subtransaction overflow, cost with
# idle connections, and the probe on a hot standby.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $workloads = "$FindBin::RealBin/../workloads";
my $node = pps_node('snapshot',
	_init => { allows_streaming => 1 },
	autovacuum => 'off',
	max_connections => 600,
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');

is(poll_session($s, 'SELECT snapshot_xcnt FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1', '0'),
	'0', 'no running transaction: xcnt = 0');
like($s->query_safe('SELECT calls FROM pg_postmaster_stats_snapshot'), qr/^[1-9]\d*$/,
	'the probe times a batch of snapshots');

# N sessions holding an open transaction with an assigned xid.
my $N = 5;
my @open;
for (1 .. $N)
{
	my $t = $node->background_psql('postgres');
	$t->query_safe('BEGIN');
	$t->query_safe('SELECT txid_current()');
	push @open, $t;
}

# A snapshot lists running xids below its xmax (latest completed xid + 1):
# complete one more transaction so that all N are below it.
$node->safe_psql('postgres', 'SELECT txid_current()');
is(poll_session($s, 'SELECT snapshot_xcnt FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1', "$N"),
	"$N", "$N open transactions with xids: snapshot_xcnt = $N exactly");
is($s->query_safe('SELECT xcnt FROM pg_postmaster_stats_snapshot'), $N, 'the snapshot view agrees');
cmp_ok($s->query_safe('SELECT oldest_xid_age FROM pg_postmaster_stats_snapshot'), '>=', $N,
	'oldest running xid age covers the open transactions');
$_->query_safe('COMMIT') for @open;
is(poll_session($s, 'SELECT snapshot_xcnt FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1', '0'),
	'0', 'after COMMIT: xcnt back to 0');
$_->quit for @open;

# More than 64 subtransactions with xids in one open transaction.
my $sub = $node->background_psql('postgres');
$sub->query_safe(PostgreSQL::Test::Utils::slurp_file("$workloads/subxact_overflow.sql"));
$node->safe_psql('postgres', 'SELECT txid_current()');
is(poll_session($s, 'SELECT snapshot_suboverflowed FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1', 't'),
	't', '70 subtransactions overflow the cache: snapshot_suboverflowed');
$sub->query_safe('COMMIT');
is(poll_session($s, 'SELECT snapshot_suboverflowed FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1', 'f'),
	'f', 'after COMMIT: no longer overflowed');
$sub->quit;

# Cost with 0 and with 500 idle connections, medians over several ticks.
sub median_cost
{
	my ($since) = @_;
	poll_session($s, qq{SELECT count(snapshot_ns) >= 20 FROM pg_postmaster_stats_history WHERE time > '$since'}, 't');
	return $s->query_safe(qq{SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY snapshot_ns)
		FROM pg_postmaster_stats_history WHERE time > '$since'});
}
my $idle_cost = median_cost($s->query_safe('SELECT clock_timestamp()'));

my $IDLE = 500;
my ($out, $err) = ('', '');
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', $IDLE, '-j', '4', '-T', '60', '-f', "$workloads/idle_connections.sql",
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
is(poll_session($s, "SELECT client_backends >= $IDLE + 1 FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1", 't', 120),
	't', "$IDLE idle connections are open");
my $busy_cost = median_cost($s->query_safe('SELECT clock_timestamp()'));
my $procs = $s->query_safe('SELECT procs_in_use FROM pg_postmaster_stats_snapshot');
note("median snapshot cost: $idle_cost ns with no idle connection, $busy_cost ns with $IDLE ($procs PGPROCs)");
cmp_ok($procs, '>=', $IDLE, 'procs_in_use counts the idle connections');
cmp_ok($busy_cost, '>=', $idle_cost, "snapshot cost with $IDLE idle connections is at least the cost with none");
$bench->kill_kill;

# The probe keeps working on a hot standby.
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('snapshot_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
my $ss = $standby->background_psql('postgres');
is(poll_session($ss, 'SELECT in_recovery AND probed_at > now() - interval \'5 s\' FROM pg_postmaster_stats_snapshot', 't'),
	't', 'the probe runs on the hot standby');
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe('INSERT INTO pps_subxact_overflow VALUES (1)');
$node->safe_psql('postgres', 'INSERT INTO pps_subxact_overflow VALUES (2)');
$node->wait_for_catchup($standby);
is(poll_session($ss, 'SELECT subxcnt FROM pg_postmaster_stats_snapshot', '1'),
	'1', 'a running writer on the primary shows in the standby snapshot (as the one known-assigned xid)');
$writer->query_safe('COMMIT');
$writer->quit;
$ss->quit;
$standby->stop;

$s->quit;
$node->stop;
done_testing();
