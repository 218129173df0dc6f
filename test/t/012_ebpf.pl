# eBPF: exact fork, exit and reap counts through the least-privilege loader.
# With PPS_REQUIRE_BPF set (CI), an inactive eBPF source is a failure, not
# a skip.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use Fcntl;
use IPC::Run;
use Socket;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('ebpf',
	autovacuum => 'off',
	logging_collector => 'on',
	max_worker_processes => 16,
	max_parallel_workers => 16,
	restart_after_crash => 'on',
	# the fork latency histogram needs the programs on the system calls
	# (off by default; 025_ebpf_syscalls tests both settings)
	'pg_postmaster_stats.ebpf_syscalls' => 'on',
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');

pps_require_bpf($s);

sub counters
{
	my ($sess) = @_;
	$sess //= $s;
	my @v = split /\|/, $sess->query_safe(q{
		SELECT forks_total, exits_total, reaps_total, abnormal_exits_total,
		       (SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'client backend'),
		       (SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'parallel worker'),
		       (SELECT abnormal_exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'auxiliary'),
		       (SELECT signaled_exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'auxiliary'),
		       (SELECT signaled_exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'client backend'),
		       connections_total, samples_total,
		       (SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'auxiliary'),
		       (SELECT exits_forked_before_attach_total FROM pg_postmaster_stats_children WHERE backend_type = 'auxiliary')
		  FROM pg_postmaster_stats});
	my %h;
	@h{qw(forks exits reaps abnormal client parallel aux_abnormal aux_signaled client_signaled conns samples aux_exits aux_unseen)} = @v;
	return \%h;
}

# Wait until the sampler has folded everything: at least $n reaps since
# $base, and the counters unchanged over several samples.
sub settle
{
	my ($base, $n) = @_;
	poll_session($s, qq{SELECT reaps_total - $base->{reaps} >= $n FROM pg_postmaster_stats}, 't');
	my $last = '';
	for (1 .. 100)
	{
		my $now = join ',', map { $_ // '' } @{ counters() }{qw(forks exits reaps)};
		return counters() if $now eq $last;
		$last = $now;
		select(undef, undef, undef, 0.5);
	}
	die 'the counters never settled';
}

# With logging_collector on, the server log is in the data directory.
sub server_log
{
	my $text = '';
	$text .= slurp_file($_) for glob($node->data_dir . '/log/*');
	return $text;
}

# pgbench -C: one setup connection, then one per transaction.
my $N = 100;
my $c0 = settle(counters(), 0);
$node->command_ok(
	[ 'pgbench', '-n', '-C', '-c', '1', '-t', $N, '-f', "$FindBin::RealBin/../workloads/select1.sql", 'postgres' ],
	"pgbench -C -t $N");
my $c1 = settle($c0, $N + 1);
is($c1->{forks} - $c0->{forks}, $N + 1, "forks move by exactly N+1 = " . ($N + 1));
is($c1->{exits} - $c0->{exits}, $N + 1, 'exits move by exactly N+1');
is($c1->{reaps} - $c0->{reaps}, $N + 1, 'reaps move by exactly N+1');
is($c1->{client} - $c0->{client}, $N + 1, "all of them classified 'client backend'");
is($c1->{abnormal} - $c0->{abnormal}, 0, 'none abnormal');
is($s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_latency WHERE metric = 'fork' AND le_seconds = 'Infinity' AND count >= 101}),
	'1', 'the fork latency histogram saw them');

# K parallel queries with W workers each: exactly K*W parallel worker exits.
$node->safe_psql('postgres', PostgreSQL::Test::Utils::slurp_file("$FindBin::RealBin/../workloads/parallel_churn.sql"));
$node->safe_psql('postgres', 'SELECT pps_churn_setup()');
my ($K, $W) = (10, 3);
$c0 = settle(counters(), 0);
$node->safe_psql('postgres', "SELECT pps_parallel_churn($K, $W)");
$c1 = settle($c0, $K * $W + 1);
is($c1->{parallel} - $c0->{parallel}, $K * $W, "$K queries x $W workers: exactly " . $K * $W . " parallel worker exits");
is($c1->{client} - $c0->{client}, 1, 'and the one client backend that ran them');

# A background worker that exits with an error: terminating the logical
# replication launcher makes it exit with code 1 (it is then restarted).
# The first launcher was forked before the programs attached: counted
# apart; its successor's exit is exactly one error exit.
my $err0 = $s->query_safe('SELECT error_exits_total FROM pg_postmaster_stats_bgworkers');
my $unseen_bgw = q{SELECT exits_forked_before_attach_total FROM pg_postmaster_stats_children
	WHERE backend_type = 'background worker'};
my $bgw0 = $s->query_safe($unseen_bgw);
my $launcher = $s->query_safe(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'});
$s->query_safe("SELECT pg_terminate_backend($launcher)");
is(poll_session($s, $unseen_bgw, $bgw0 + 1), $bgw0 + 1,
	'the first launcher, forked before the attach, is one exit counted apart');
is($s->query_safe('SELECT error_exits_total FROM pg_postmaster_stats_bgworkers'), $err0,
	'... not among the error exits');
is(poll_session($s, qq{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'logical replication launcher' AND pid <> $launcher}, '1', 30), '1',
	'the launcher was restarted');
my $launcher2 = $s->query_safe(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'});
$s->query_safe("SELECT pg_terminate_backend($launcher2)");
is(poll_session($s, 'SELECT error_exits_total FROM pg_postmaster_stats_bgworkers', $err0 + 1),
	$err0 + 1, 'a background worker exiting with an error is exactly one error exit');

# SIGKILL of the logger (the postmaster restarts it without a crash
# restart).  The first logger was forked before the programs attached: its
# exit is counted apart, never among the exits, which count only children
# whose fork was seen.  Its successor's fork is seen: killing it is one
# abnormal, signaled exit of an auxiliary process.
my $pm = $node->safe_psql('postgres', 'SELECT postmaster_pid FROM pg_postmaster_stats');
sub find_logger
{
	my ($not) = @_;
	my ($pid) = grep {
		# a child may exit between the listing and the open: no title then
		my $t = '';
		if (open my $f, '<', "/proc/$_/cmdline") { $t = <$f> // ''; }
		$t =~ /^postgres: .*logger/ && $_ != ($not // 0);
	} split ' ', slurp_file("/proc/$pm/task/$pm/children");
	return $pid;
}
my $logger = find_logger();
ok($logger, "found the logger ($logger)");
$c0 = counters();
kill 'KILL', $logger;
is(poll_session($s, qq{SELECT exits_forked_before_attach_total FROM pg_postmaster_stats_children WHERE backend_type = 'auxiliary'},
		$c0->{aux_unseen} + 1),
	$c0->{aux_unseen} + 1, 'the first logger, forked before the attach, is counted apart');
my $c1b = counters();
is($c1b->{aux_exits} - $c0->{aux_exits}, 0, '... and not among the auxiliary exits');
is($c1b->{aux_abnormal} - $c0->{aux_abnormal}, 0, '... nor among the abnormal ones');
my $logger2;
for (1 .. 100) { $logger2 = find_logger($logger); last if $logger2; usleep(100_000); }
ok($logger2, "the postmaster started a new logger ($logger2)");
kill 'KILL', $logger2;
is(poll_session($s, qq{SELECT abnormal_exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'auxiliary'},
		$c0->{aux_abnormal} + 1),
	$c0->{aux_abnormal} + 1, 'the killed second logger is one abnormal auxiliary exit');
is(counters()->{aux_signaled} - $c0->{aux_signaled}, 1, 'and one signaled exit');
is(counters()->{aux_exits} - $c0->{aux_exits}, 1, 'and one auxiliary exit');

# SIGKILL of a backend: crash restart.  The sampler folds the crash into
# shared memory on its way out and the postmaster carries the segment over.
my $victim = $node->background_psql('postgres');
$c0 = settle(counters(), 0);
my $vpid = $victim->query_safe('SELECT pg_backend_pid()');
$s->quit;
kill 'KILL', $vpid;
# the restore is logged once the crash restart is under way; only then is
# "accepting connections" news
for (1 .. 600)
{
	last if server_log() =~ /pg_postmaster_stats (kept|discarded)/;
	usleep(100_000);
}
pps_wait_ready($node);
$node->poll_query_until('postgres', q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'})
  or die 'server did not come back';
like(server_log(), qr/terminating any other active server processes/, 'the server did a crash restart');
like(server_log(), qr/kept its counters and history across the crash restart/, 'the extension kept its segment');
$s = $node->background_psql('postgres');
my $c2 = counters();
is($c2->{client_signaled} - $c0->{client_signaled}, 1, 'the SIGKILLed backend is exactly one signaled client exit');
cmp_ok($c2->{conns}, '>', $c0->{conns}, 'connections_total survived the crash restart');
cmp_ok($c2->{samples}, '>=', $c0->{samples}, 'samples_total (and the history) survived');
cmp_ok($c2->{exits}, '<=', $c2->{forks}, 'exits never exceed forks, across the crash restart');
eval { $victim->quit };

# The loader refuses what it must refuse, with a message and its own exit code.
my $loader = $s->query_safe('SHOW pg_postmaster_stats.ebpf_loader');
$^F = 1023;    # keep the socket open across exec
socketpair(my $mine, my $theirs, AF_UNIX, SOCK_SEQPACKET, 0) or die "socketpair: $!";
my $fd = fileno($theirs);
my $backend = $s->query_safe('SELECT pg_backend_pid()');
for my $case (
	[ [ '--pid', 'abc', '--fd', $fd ], 2, qr/invalid --pid/, 'garbage arguments' ],
	[ [ '--fd', $fd ], 2, qr/required/, 'a missing --pid' ],
	[ [ '--pid', $pm, '--fd', 1 ], 3, qr/socket/, 'an --fd that is not a socket' ],
	[ [ '--pid', '1', '--fd', $fd ], 5, qr/uid|user/, 'a pid owned by another user' ],
	[ [ '--pid', $backend, '--fd', $fd ], 6, qr/postmaster/, 'a pid that is not a postmaster' ],
	[ [ '--pid', $pm, '--fd', $fd ], 7, qr/child/, 'a caller that is not a child of the postmaster' ])
{
	my ($args, $code, $msg, $what) = @$case;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $loader, @$args ], '>', \$out, '2>', \$err);
	is($? >> 8, $code, "the loader refuses $what (exit $code)");
	like($err, $msg, "... and says why: " . (split /\n/, $err)[0]);
}
$s->quit;
$node->stop;

# Loader absent: everything else works and the sources view explains.
$node->append_conf('postgresql.conf', q{pg_postmaster_stats.ebpf_loader = '/nonexistent/pg_postmaster_stats_bpf'});
$node->start;
$s = $node->background_psql('postgres');
is(poll_session($s, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 'f'), 'f',
	'without the loader the eBPF source is inactive');
like($s->query_safe(q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}),
	qr/not installed/, 'and the sources view says the loader is not installed');
# (replay is inactive on a server that is neither a standby nor a primary
# with standbys)
is(poll_session($s, q{SELECT bool_and(active) FROM pg_postmaster_stats_sources WHERE source NOT IN ('ebpf', 'replay')}, 't'),
	't', 'every other source is active');
is($s->query_safe(q{SELECT forks_total IS NULL AND zombies IS NULL FROM pg_postmaster_stats}), 't',
	'the eBPF columns are NULL');
$s->quit;
$node->stop;
done_testing();
