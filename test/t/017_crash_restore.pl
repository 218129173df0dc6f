# A crash restart carries the extension's segment over only if the copy the
# postmaster saved passes every check.  Each field the check reads is
# corrupted in the live segment with gdb (through a backend: the segment is
# mapped in every process), the backend is killed with SIGKILL, and the
# server must come back, say in its log which field was wrong, start the
# counters from zero and say so in pg_postmaster_stats_sources.  What a
# sampler killed mid-write legitimately leaves behind is repaired, not
# rejected, and an untouched segment is kept exactly.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

# samples in the ring; small, so that the ring wraps within seconds
my $R = 10;

my $gdb = (grep { -x } map { "$_/gdb" } split(/:/, $ENV{PATH} // ''), '/usr/bin')[0];
if (!$gdb)
{
	fail('gdb is installed (test/lib/install-deps.sh installs it)');
	done_testing();
	exit;
}

my $node = pps_node('crash_restore',
	restart_after_crash => 'on',
	autovacuum => 'off',
	'pg_postmaster_stats.history_size' => $R,
	'pg_postmaster_stats.sample_interval' => '100ms');

sub query { return $node->safe_psql('postgres', $_[0]); }

sub set_enabled
{
	my ($on) = @_;
	query("ALTER SYSTEM SET pg_postmaster_stats.enabled = $on");
	query('SELECT pg_reload_conf()');
}

# Ring wrapped at least twice, then frozen: with sampling off nothing moves,
# so the numbers before and after the crash restart can be compared exactly.
sub fill_and_freeze
{
	my $n0 = query('SELECT samples_total FROM pg_postmaster_stats');
	my $want = $n0 + 5 > 2 * $R + 5 ? $n0 + 5 : 2 * $R + 5;

	set_enabled('on');
	$node->poll_query_until('postgres', "SELECT samples_total >= $want FROM pg_postmaster_stats")
	  or die 'the sampler did not fill the ring';
	set_enabled('off');
	# the sampler says so in the tick that stops sampling
	$node->poll_query_until('postgres', q{SELECT detail LIKE '%enabled is off%'
		FROM pg_postmaster_stats_sources WHERE source = 'postmaster_process'})
	  or die 'sampling did not stop';
	my ($n, $conns, $reset) = split /\|/, query(
		'SELECT samples_total, connections_total, stats_reset FROM pg_postmaster_stats');
	return { n => $n, conns => $conns, reset => $reset };
}

# Set each lvalue to its value (gdb expressions over pps_shared) in the
# segment, through the backend $pid; returns gdb's output.
sub corrupt
{
	my ($pid, @assign) = @_;
	my @ex = map { ('-ex', "set var $_->[0] = $_->[1]", '-ex', "print $_->[0]") } @assign;
	my ($out, $err) = ('', '');
	local $ENV{DEBUGINFOD_URLS} = '';
	IPC::Run::run([ $gdb, '-nx', '-batch', '-p', $pid, @ex ], '>', \$out, '2>', \$err);
	my @printed = $out =~ /^\$\d+ = (.*)$/mg;
	die "gdb could not write the segment through pid $pid:\n$out\n$err"
	  unless @printed == @assign;
	return join(', ', @printed);
}

# Kill a backend with SIGKILL after $setup (if any) ran on its pid; returns
# what the postmaster logged from the crash to the end of the restore.
sub crash
{
	my ($setup) = @_;
	my $offset = -s $node->logfile;
	my $victim = $node->background_psql('postgres');
	my $pid = $victim->query_safe('SELECT pg_backend_pid()');
	$setup->($pid) if $setup;
	kill 'KILL', $pid or die "could not kill $pid: $!";
	$node->wait_for_log(qr/pg_postmaster_stats (kept|discarded|could not keep)[^\n]*\n(?:[^\n]*DETAIL:[^\n]*\n)?/,
		$offset);
	pps_wait_ready($node);
	$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
	eval { $victim->quit };
	my $log = slurp_file($node->logfile, $offset);
	return substr($log, index($log, 'terminating any other active server processes'));
}

sub sampler_detail
{
	return query(q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'sampler_worker'});
}

# An untouched segment is kept exactly.
my $before = fill_and_freeze();
my $log = crash();
like($log, qr/kept its counters and history across the crash restart/, 'clean crash restart: the segment is kept');
is(query('SELECT samples_total, connections_total, stats_reset FROM pg_postmaster_stats'),
	"$before->{n}|$before->{conns}|$before->{reset}",
	'clean crash restart: samples, connections and stats_reset exactly as before');
is(query('SELECT count(*) FROM pg_postmaster_stats_history'), $R, 'clean crash restart: the whole ring is readable');
unlike(sampler_detail(), qr/restarted from zero/, 'clean crash restart: the sources view reports no reset');

# The sampler killed in the middle of a row leaves that slot's counter odd:
# the row is dropped, the rest kept.
$before = fill_and_freeze();
my $head = $before->{n} % $R;
$log = crash(sub {
	corrupt($_[0], [ "pps_shared->ring[$head].seq.value", "pps_shared->ring[$head].seq.value + 1" ]);
});
like($log, qr/kept its counters and history/, 'sampler killed mid-write: the segment is kept');
is(query('SELECT samples_total FROM pg_postmaster_stats'), $before->{n}, '... samples_total unchanged');
is(query('SELECT count(*) FROM pg_postmaster_stats_history'), $R - 1, '... and only the torn row is gone');

# Killed after completing the row, before counting it: the row is counted.
$before = fill_and_freeze();
$head = $before->{n} % $R;
$log = crash(sub {
	corrupt($_[0], [ "pps_shared->ring[$head].seq.value", "pps_shared->ring[$head].seq.value + 2" ],
		[ "pps_shared->ring[$head].data.index", $before->{n} ]);
});
like($log, qr/kept its counters and history/, 'sampler killed before counting its row: the segment is kept');
is(query('SELECT samples_total FROM pg_postmaster_stats'), $before->{n} + 1, '... and the complete row is counted');
is(query('SELECT count(*) FROM pg_postmaster_stats_history'), $R, '... and readable');

# Every field the check reads, corrupted: [ name, sub(n) giving the
# assignments, what the LOG detail must say, what the sources view says ].
my @cases = (
	[ 'magic', sub { [ 'pps_shared->magic', 0 ] },
		qr/magic is 0x0000000000000000, expected 0x5050535f53484d31/, qr/its magic number was wrong/ ],
	[ 'layout version', sub { [ 'pps_shared->layout', 12345 ] },
		qr/layout is 0x0000000000003039, expected /, qr/its layout version was wrong/ ],
	[ 'ring_size = -1', sub { [ 'pps_shared->ring_size', -1 ] },
		qr/ring_size is -1, expected $R /, qr/its ring_size did not match/ ],
	[ 'ring_size = 4000000', sub { [ 'pps_shared->ring_size', 4000000 ] },
		qr/ring_size is 4000000, expected $R /, qr/its ring_size did not match/ ],
	[ 'samples_written (the ring head)', sub { [ 'pps_shared->samples_written.value', $_[0] + 1000 ] },
		qr/samples_written is \d+, but the sequence counters of $R of the $R ring slots disagree/,
		qr/its samples_written did not match the ring/ ],
	[ 'samples_written beyond any count', sub { [ 'pps_shared->samples_written.value', '0xffffffffffffffff' ] },
		qr/samples_written is 18446744073709551615, beyond any plausible count/,
		qr/its samples_written did not match the ring/ ],
	[ 'a slot seqlock left odd away from the head', sub {
			my $k = ($_[0] + 3) % $R;
			[ "pps_shared->ring[$k].seq.value", "pps_shared->ring[$k].seq.value + 1" ] },
		qr/ring\[\d+\]\.seq is \d+, expected \d+ for samples_written \d+/,
		qr/a ring slot's sequence counter was inconsistent/ ],
	[ 'the head slot seqlock beyond what a killed writer leaves', sub {
			my $k = $_[0] % $R;
			[ "pps_shared->ring[$k].seq.value", "pps_shared->ring[$k].seq.value + 4" ] },
		qr/ring\[\d+\]\.seq is \d+, expected \d+ for samples_written \d+/,
		qr/a ring slot's sequence counter was inconsistent/ ],
	[ 'a slot index not congruent to its position', sub {
			my $k = ($_[0] + 5) % $R;
			[ "pps_shared->ring[$k].data.index", "pps_shared->ring[$k].data.index + 1" ] },
		qr/ring\[\d+\]\.index is \d+, expected \d+/,
		qr/a ring slot's sample number was inconsistent/ ],
	[ 'a histogram bucket', sub { [ 'pps_shared->conn_setup.bucket[3].value', '0x8000000000000000' ] },
		qr/conn_setup\.bucket\[3\] is 9223372036854775808, beyond any plausible count/,
		qr/a histogram count was implausible/ ],
	[ 'the record of an earlier discard', sub { [ 'pps_shared->discarded_why', 99 ] },
		qr/discarded_why is 99 with discarded_at \d+/,
		qr/its record of an earlier discard was invalid/ ]);

for my $case (@cases)
{
	my ($what, $assign, $log_re, $view_re) = @$case;
	$before = fill_and_freeze();
	my $wrote;
	$log = crash(sub { $wrote = corrupt($_[0], $assign->($before->{n})) });
	note("$what: wrote $wrote");
	like($log, qr/LOG:  pg_postmaster_stats discarded its counters and history saved across the crash restart\n.*DETAIL:  The saved copy of its shared memory failed a check: $log_re/,
		"$what: the LOG line says which field was wrong");
	like($log, qr/database system is ready to accept connections/, "$what: the server came back");
	# the sampler registers itself in the fresh segment as it starts
	$node->poll_query_until('postgres', 'SELECT worker_starts_total = 1 FROM pg_postmaster_stats')
	  or die 'the sampler did not start';
	is(query('SELECT samples_total, connections_total FROM pg_postmaster_stats'),
		'0|0', "$what: counters start from zero");
	my ($reset_after) = query("SELECT stats_reset > '$before->{reset}' FROM pg_postmaster_stats");
	is($reset_after, 't', "$what: stats_reset is the time of the discard");
	like(sampler_detail(),
		qr/counters and history restarted from zero at \d{4}-\d\d-\d\d [\d:.]+\S*: the copy of shared memory saved across a crash restart was discarded because $view_re/,
		"$what: the sources view says the counters were reset after a corrupt save");
}

# A later clean crash restart keeps the segment, the record of the discard
# included: the counters still go back only to it.
$before = fill_and_freeze();
$log = crash();
like($log, qr/kept its counters and history across the crash restart/, 'clean crash restart after a discard: kept');
is(query('SELECT samples_total, stats_reset FROM pg_postmaster_stats'), "$before->{n}|$before->{reset}",
	'... exactly');
like(sampler_detail(), qr/restarted from zero at .*its record of an earlier discard was invalid/,
	'... and the sources view still reports the last discard');

$node->stop;
done_testing();
