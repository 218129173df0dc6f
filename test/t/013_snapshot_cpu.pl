# eBPF: the share of the server's on-CPU samples inside GetSnapshotData.
# The range counted is GetSnapshotData's own code; a busy server that takes
# no snapshots shows ~0, a snapshot-heavy one with many idle connections
# more than 0, an idle interval NULL.  With PPS_REQUIRE_BPF set (CI), an
# inactive eBPF source is a failure, not a skip.
use strict;
use warnings;
no warnings 'portable';    # 64-bit hex addresses

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use Socket;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $workloads = "$FindBin::RealBin/../workloads";
my $IDLE = 300;
my $node = pps_node('snapshot_cpu',
	autovacuum => 'off',
	max_connections => $IDLE + 50,
	'pg_postmaster_stats.sample_interval' => '500ms');
my $s = $node->background_psql('postgres');

pps_require_bpf($s);
my $detail = $s->query_safe(q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'ebpf'});

# The range is GetSnapshotData's .dynsym entry, relocated: the running
# server binary is a PIE, so its symbols are offsets from the address its
# first (offset 0) mapping starts at.
my $pm = $s->query_safe('SELECT postmaster_pid FROM pg_postmaster_stats');
my $exe = readlink("/proc/$pm/exe") or die "readlink /proc/$pm/exe: $!";
my ($value, $size) = map { hex } (
	(run_command([ 'nm', '-D', '--defined-only', '-S', $exe ]))[0] =~ /^(\w+) (\w+) T GetSnapshotData$/m);
ok($size, sprintf('nm: GetSnapshotData at +0x%x, %d bytes, in %s', $value, $size // 0, $exe));
my ($base) = map { hex((split /-/)[0]) }
  grep { (split ' ')[2] =~ /^0+$/ && (split ' ')[-1] eq $exe } split /\n/, slurp_file("/proc/$pm/maps");
my ($start, $end) = map { hex } ($detail =~ /GetSnapshotData at 0x([0-9a-f]+)-0x([0-9a-f]+)/);
ok(defined $start, "the sources detail shows the range: $detail");
is(sprintf('0x%x', $start // 0), sprintf('0x%x', $base + $value),
	'it starts where GetSnapshotData is mapped in the postmaster');
is(($end // 0) - ($start // 0), $size, 'and is exactly its st_size long');

# The loader validates the range: the syntax first, then that it is code of
# that postmaster (checked before the caller, so a test can reach it).
my $loader = $s->query_safe('SHOW pg_postmaster_stats.ebpf_loader');
$^F = 1023;    # keep the socket open across exec
socketpair(my $mine, my $theirs, AF_UNIX, SOCK_SEQPACKET, 0) or die "socketpair: $!";
my $fd = fileno($theirs);
my $real = sprintf('0x%x-0x%x', $start // 1, $end // 2);
for my $case (
	[ 'garbage', 2, qr/invalid --snapshot-range/, 'a malformed range' ],
	[ '0x2000-0x1000', 2, qr/invalid --snapshot-range/, 'an empty range' ],
	[ '0x1000-0x200000', 2, qr/at most/, 'a range over 1 MiB' ],
	[ '0x1000-0x2000', 14, qr/not inside the code of postmaster/, 'a range outside the postmaster\'s code' ],
	[ $real, 7, qr/child/, 'not the real range: it gets past the range check to the caller check' ])
{
	my ($range, $code, $msg, $what) = @$case;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $loader, '--pid', $pm, '--fd', $fd, '--snapshot-range', $range ], '>', \$out, '2>', \$err);
	is($? >> 8, $code, "the loader refuses $what (exit $code)");
	like($err, $msg, '... and says why: ' . (split /\n/, $err)[0]);
}

# Window over the samples taken after $since: server samples, and the
# share in GetSnapshotData as sum(in snapshot) / sum(all).
sub window
{
	my ($since) = @_;
	my ($samples, $share, $rows) = split /\|/, $s->query_safe(qq{
		SELECT sum(server_oncpu_samples),
		       sum(snapshot_cpu_share_pct * server_oncpu_samples) / nullif(sum(server_oncpu_samples), 0),
		       count(snapshot_cpu_share_pct)
		  FROM pg_postmaster_stats_history WHERE time > '$since'});
	return ($samples || 0, $share // 0, $rows);
}

sub now_ts { return $s->query_safe('SELECT clock_timestamp()') }

# Wait for the sample that covers the end of a load.
sub next_sample
{
	my $t = now_ts();
	poll_session($s, qq{SELECT count(*) >= 1 FROM pg_postmaster_stats_history WHERE time > '$t'}, 't');
}

# A busy backend that takes one snapshot: plenty of server samples (the
# postmaster's children are counted, not only the postmaster), ~none in
# GetSnapshotData.
my $t0 = now_ts();
$node->safe_psql('postgres', 'SELECT sum(g) FROM generate_series(1, 20000000) g');
next_sample();
my ($busy_samples, $busy_share) = window($t0);
note(sprintf('no snapshots: %.3f%% of %d server samples in GetSnapshotData', $busy_share, $busy_samples));
cmp_ok($busy_samples, '>=', 100, 'a CPU-bound query shows as server samples');
cmp_ok($busy_share, '<', 1, 'and almost none of them in GetSnapshotData (it takes one snapshot)');

# Snapshot-heavy load: $IDLE idle connections make every snapshot dearer,
# and 4 clients committing xids make nearly every snapshot a full one.
my ($out, $err) = ('', '');
my $idle = IPC::Run::start(
	[ 'pgbench', '-n', '-c', $IDLE, '-j', '4', '-T', '120', '-f', "$workloads/idle_connections.sql",
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
is(poll_session($s, "SELECT client_backends >= $IDLE + 1 FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1", 't', 120),
	't', "$IDLE idle connections are open");
# The load runs until the server has been sampled $LOAD_SAMPLES times on
# CPU (about 10 s on an idle 2-CPU machine; longer on a busy one).
my $LOAD_SAMPLES = 1500;
my $t1 = now_ts();
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '4', '-j', '2', '-T', '120', '-f', "$workloads/snapshot_heavy.sql",
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \my $load_out, '2>', \my $load_err);
is(poll_session($s, qq{SELECT sum(server_oncpu_samples) >= $LOAD_SAMPLES FROM pg_postmaster_stats_history WHERE time > '$t1'},
		't', 120),
	't', "4 clients committing xids: $LOAD_SAMPLES server samples on CPU");
$load->kill_kill;
next_sample();
my ($load_samples, $load_share, $load_rows) = window($t1);
my $procs = $s->query_safe('SELECT procs_in_use FROM pg_postmaster_stats_snapshot');
note(sprintf('snapshot-heavy load, %d idle connections (%d PGPROCs): %.3f%% of %d server samples in GetSnapshotData',
	$IDLE, $procs, $load_share, $load_samples));
cmp_ok($load_rows, '>=', 10, 'its samples carry snapshot_cpu_share_pct');
cmp_ok($load_share, '>', 0, 'a share of them is inside GetSnapshotData');
cmp_ok($load_share, '>', $busy_share, 'more than with a CPU-bound query that takes no snapshots');
$idle->kill_kill;

# The view: the latest sample's share and the history window's, weighted by
# samples (polled: a new sample may land between the two reads).
is(poll_session($s, q{
	SELECT v.snapshot_cpu_share_pct IS NOT DISTINCT FROM l.snapshot_cpu_share_pct
	   AND abs(v.snapshot_cpu_share_pct_window - w.share) < 1e-9
	   AND v.server_oncpu_samples_window = w.samples
	  FROM pg_postmaster_stats_snapshot v,
	       (SELECT snapshot_cpu_share_pct FROM pg_postmaster_stats_history ORDER BY time DESC LIMIT 1) l,
	       (SELECT sum(snapshot_cpu_share_pct * server_oncpu_samples) / sum(server_oncpu_samples) AS share,
	               sum(server_oncpu_samples) AS samples
	          FROM pg_postmaster_stats_history WHERE snapshot_cpu_share_pct IS NOT NULL) w}, 't'),
	't', 'pg_postmaster_stats_snapshot: latest share, and sum(in snapshot) / sum(all) over the window');
cmp_ok($s->query_safe('SELECT snapshot_cpu_share_pct_window FROM pg_postmaster_stats_snapshot'), '>', 0,
	'the window share is above 0 after the load');

# Idle: an interval in which no server process was on CPU when a sample
# fired has no share at all (NULL), not 0%.
my $t2 = now_ts();
is(poll_session($s, qq{SELECT count(*) >= 1 FROM pg_postmaster_stats_history
	WHERE time > '$t2' AND server_oncpu_samples = 0 AND snapshot_cpu_share_pct IS NULL}, 't'),
	't', 'an idle interval without server samples: snapshot_cpu_share_pct is NULL');
is($s->query_safe(qq{SELECT count(*) FROM pg_postmaster_stats_history
	WHERE time > '$t2' AND server_oncpu_samples = 0 AND snapshot_cpu_share_pct IS NOT NULL}),
	'0', 'never 0% for no samples');

# eBPF off: the columns are NULL.
$s->query_safe(q{ALTER SYSTEM SET pg_postmaster_stats.ebpf = off});
$s->query_safe(q{SELECT pg_reload_conf()});
is(poll_session($s, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 'f'), 'f',
	'pg_postmaster_stats.ebpf = off detaches');
my $t3 = now_ts();
poll_session($s, qq{SELECT count(*) >= 3 FROM pg_postmaster_stats_history WHERE time > '$t3'}, 't');
is($s->query_safe(qq{SELECT bool_and(server_oncpu_samples IS NULL AND snapshot_cpu_share_pct IS NULL)
	FROM pg_postmaster_stats_history WHERE time > '$t3'}), 't',
	'without eBPF, server_oncpu_samples and snapshot_cpu_share_pct are NULL');

$s->quit;
$node->stop;
done_testing();
