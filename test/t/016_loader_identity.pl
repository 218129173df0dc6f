# The eBPF loader serves only the extension's sampler of a real postmaster
# of this installation, one set of programs per postmaster, and the
# programs it loads watch that postmaster's identity (pid and start time):
# a process that gets the same pid after the postmaster exited matches
# nothing, although the links are still held.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;
use Time::HiRes qw(usleep);

my $node = pps_node('identity',
	restart_after_crash => 'off',
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');

pps_require_bpf($s);

my ($pm, $sampler) = split /\|/,
  $s->query_safe('SELECT postmaster_pid, worker_pid FROM pg_postmaster_stats');
my $loader = $s->query_safe('SHOW pg_postmaster_stats.ebpf_loader');
my $datadir = $node->data_dir;
my $tmp = PostgreSQL::Test::Utils::tempdir;

# The request layout of bpf/pps_bpf.h: magic, layout version, token[65].
my ($layout) = slurp_file("$FindBin::RealBin/../../bpf/pps_bpf.h") =~
  /#define PPS_BPF_LAYOUT_VERSION\s+(\d+)/;
ok($layout, "layout version $layout read from pps_bpf.h");
my $token = join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
my $request_hex = unpack 'H*', pack('LLa65x3', 0x50505352, $layout, $token);

# Runs the loader for --pid $pid with a fresh socketpair, the request (if
# any) queued on it.  Mode "fork": from a child of this process, then
# prints "exit=N flags=F nfds=K" from the loader's reply into $out.  Mode
# "exec": replaces this process, so that its parent is the loader's caller.
my $runner = "$tmp/run_loader.pl";
open my $fh, '>', $runner or die;
print $fh <<'EOS';
use strict;
use Socket;
my ($mode, $loader, $pid, $request_hex, $out) = @ARGV;
$^F = 1023;    # the loader's end stays open across exec
socketpair(my $mine, my $theirs, AF_UNIX, SOCK_SEQPACKET, 0) or die "socketpair: $!";
send($mine, pack('H*', $request_hex), 0) if $request_hex ne '-';
my $child = $mode eq 'exec' ? 0 : fork() // die "fork: $!";
if ($child == 0)
{
	open STDERR, '>', "$out.err" or die;
	exec $loader, '--pid', $pid, '--fd', fileno($theirs) or die "exec: $!";
}
waitpid $child, 0;
my $code = $? >> 8;
my $hello = '';
recv($mine, $hello, 4096, 0x40);    # MSG_DONTWAIT
my ($magic, $version, $flags, $nfds) = unpack 'LLLL', $hello . "\0" x 16;
open my $o, '>', $out or die;
print $o "exit=$code flags=$flags nfds=$nfds\n";
EOS
close $fh;

sub loader_result
{
	my ($out) = @_;
	my $r = -e $out ? slurp_file($out) : '';
	my $err = -e "$out.err" ? slurp_file("$out.err") : '';
	chomp $r;
	chomp $err;
	return ($r, $err);
}

# 1. A fake postmaster: any process that writes a postmaster.pid naming
# itself in its working directory and runs the loader from a child.
{
	my $fake = "$tmp/fake";
	mkdir $fake or die;
	my $out = "$tmp/fake.out";
	my $script = qq{
		chdir '$fake' or die;
		open my \$f, '>', 'postmaster.pid' or die;
		print \$f "\$\$\\n$fake\\n", time(), "\\n5432\\n/tmp\\n*\\n0 0\\nready   \\n";
		close \$f;
		my \$c = fork() // die;
		if (\$c == 0) { exec \$^X, '$runner', 'fork', '$loader', getppid(), '$request_hex', '$out'; die; }
		waitpid \$c, 0;
	};
	IPC::Run::run([ $^X, '-e', $script ]);
	my ($r, $err) = loader_result($out);
	is($r, 'exit=6 flags=0 nfds=0', 'a fake postmaster gets no descriptors and exit code 6');
	like($err, qr/not a PostgreSQL postmaster of this installation: its executable/, '... because it is not the postgres executable');
}

# The remaining callers are children of the real postmaster that are not
# its sampler: a backend running COPY ... TO PROGRAM, whose shell execs
# perl, which execs the loader (so the loader's parent is the backend).
# $token_line, if given, is first written as the token file by the same
# backend ("<pid> <token>"), as only the server's own user can.
my $token_file = "$datadir/pg_stat_tmp/pg_postmaster_stats_bpf.token";
sub from_backend
{
	my ($name, $token_line) = @_;
	my $out = "$tmp/$name.out";
	my $sql = '';
	$sql .= "COPY (SELECT pg_catalog.pg_backend_pid()::text || ' $token_line') TO PROGRAM 'umask 077; cat > $token_file';\n"
	  if defined $token_line;
	$sql .= "COPY (SELECT 1) TO PROGRAM 'exec $^X $runner exec $loader $pm $request_hex $out';";
	$node->psql('postgres', $sql, stderr => \my $err);
	my $loader_err = -e "$out.err" ? slurp_file("$out.err") : '';
	chomp $loader_err;
	return ($err, $loader_err);
}

# 2. No token file: the caller is not the sampler.
{
	my ($err, $lerr) = from_backend('notoken');
	like($err, qr/exit code 15/, 'a backend (child of the postmaster) without the token is refused with exit code 15');
	like($lerr, qr/no token file/, '... and the loader says why');
}

# 3. A token file that does not match the request.
{
	my $other = join '', map { sprintf '%02x', int(rand(256)) } 1 .. 32;
	my ($err, $lerr) = from_backend('badtoken', $other);
	like($err, qr/exit code 15/, 'a token that does not match is refused with exit code 15');
	like($lerr, qr/does not match/, '... and the loader says why');
	ok(!-e $token_file, 'the token file is used once: removed');
}

# 4. A valid token while the sampler's programs are attached: one set of
# programs per postmaster.
{
	my ($err, $lerr) = from_backend('second', $token);
	like($err, qr/exit code 16/, 'a second loader for the same postmaster is refused with exit code 16');
	like($lerr, qr/already watched by another loader/, '... and the loader says why');
}
is($s->query_safe(q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}), 't',
	'the sampler keeps its programs meanwhile');
$s->quit;

# 5. Pid reuse.  Stop the sampler (it keeps the links and its mapping of
# the counters), kill the postmaster, and make a new process get its pid
# and fork, exit and reap 20 children.
my ($map) = grep { /anon_inode:bpf-map/ } split /\n/, slurp_file("/proc/$sampler/maps");
ok($map, 'the sampler maps the programs\' counters');
my ($map_start) = $map =~ /^([0-9a-f]+)-/;

# struct pps_bpf_stats (bpf/pps_bpf.h): magic, layout_version, forks, reaps, ...
sub bpf_counters
{
	open my $mem, '<:raw', "/proc/$sampler/mem" or die "open /proc/$sampler/mem: $!";
	sysseek($mem, hex($map_start), 0) or die "seek: $!";
	sysread($mem, my $buf, 64) == 64 or die "read: $!";
	my ($magic, $version, $forks, $reaps) = unpack 'LLQQ', $buf;
	return { magic => $magic, forks => $forks, reaps => $reaps };
}

sub live_links
{
	my $n = 0;
	for my $fd (glob "/proc/$sampler/fdinfo/*")
	{
		$n++ if (eval { slurp_file($fd) } // '') =~ /^link_type:/m;
	}
	return $n;
}

kill 'STOP', $sampler or die "cannot stop the sampler: $!";
kill 'KILL', $pm or die "cannot kill the postmaster: $!";
usleep(100_000) while -e "/proc/$pm";
my $before = bpf_counters();
is($before->{magic}, 0x50505342, 'the counters are readable from the stopped sampler');
cmp_ok(live_links(), '>=', 4, 'the stopped sampler still holds the links (' . live_links() . ')');

my $cycler = q{
	use POSIX ();
	my $target = shift;
	for (1 .. 3 * 32768) {
		my $p = fork() // die "fork: $!";
		if ($p == 0) {
			if ($$ == $target) {
				for (1 .. 20) { my $g = fork(); POSIX::_exit(0) if $g == 0; waitpid $g, 0; }
				POSIX::_exit(42);
			}
			POSIX::_exit(0);
		}
		waitpid $p, 0;
		if ($p == $target) { print(($? >> 8) == 42 ? "reused\n" : "raced\n"); exit 0; }
	}
	print "never\n";
};
my $pid_max = slurp_file('/proc/sys/kernel/pid_max');
SKIP:
{
	skip "pid_max is $pid_max: cycling through the pids would take too long", 3
	  if $pid_max > 65536;
	my $got = '';
	for (1 .. 3)
	{
		IPC::Run::run([ $^X, '-e', $cycler, $pm ], '>', \$got);
		chomp $got;
		last if $got eq 'reused';
	}
	is($got, 'reused', "a new process got the postmaster's pid $pm and forked, exited and reaped 20 children");
	my $after = bpf_counters();
	is($after->{forks} - $before->{forks}, 0, 'the programs counted none of its forks');
	is($after->{reaps} - $before->{reaps}, 0, 'nor its reaps');
}

kill 'KILL', $sampler;
kill 'CONT', $sampler;
usleep(100_000) while -e "/proc/$sampler";
# the server starts again over the killed one's leftovers
$node->{_pid} = undef;
$node->start;
$s = $node->background_psql('postgres');
is(poll_session($s, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't', 30), 't',
	'after the old sampler is gone, a new postmaster gets its programs (the lock was released)');
$s->quit;
$node->stop;
done_testing();
