# Backend types across majors: pg_postmaster_stats_children has one row for
# every backend type of the PostgreSQL under test (16 to 19 added and
# re-sorted them), its live counts are what the server itself reports in
# pg_stat_activity, and with eBPF the exit of every auxiliary process the
# major can start is counted as 'auxiliary', never as 'background worker'.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $major = pps_major();

# GetBackendTypeDesc() of each major (miscinit.c; proctypelist.h in 19),
# B_INVALID excluded
my @types = (
	'archiver', 'autovacuum launcher', 'autovacuum worker', 'client backend',
	'background worker', 'background writer', 'checkpointer',
	($major >= 19 ? 'syslogger' : 'logger'),
	'startup', 'walreceiver', 'walsender', 'walwriter');
push @types, 'standalone backend' if $major >= 16;
push @types, 'slotsync worker', 'walsummarizer' if $major >= 17;
push @types, 'dead-end client backend', 'io worker' if $major >= 18;
push @types, 'datachecksums launcher', 'datachecksums worker' if $major >= 19;
# rows that are no backend type: the eBPF classes and the unregistered
my @extra = ('auxiliary', 'other', 'parallel worker', 'unregistered');
my $extra_sql = join ', ', map { "'$_'" } @extra;

# A primary running every auxiliary process its major has, and a standby
# (startup, walreceiver and, from 17 on, the slot sync worker).
my @by_major;
push @by_major, summarize_wal => 'on' if $major >= 17;
# three I/O workers: io_workers in 18; 19 sizes the pool between
# io_min_workers and io_max_workers
push @by_major, io_method => 'worker', io_workers => 3 if $major == 18;
push @by_major, io_method => 'worker', io_min_workers => 3, io_max_workers => 3 if $major >= 19;
my $primary = pps_node('types_primary',
	_init => { allows_streaming => 'logical' },
	logging_collector => 'on',
	archive_mode => 'on',
	archive_command => q{'/bin/true'},
	'pg_postmaster_stats.sample_interval' => '100ms',
	@by_major);
my $ps = $primary->background_psql('postgres');
$ps->query_safe(q{SELECT pg_create_physical_replication_slot('types_standby')});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('types_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
primary_slot_name = 'types_standby'
hot_standby_feedback = on
});
# the slot sync worker needs a database in primary_conninfo
$standby->append_conf('postgresql.conf', sprintf(qq{
sync_replication_slots = on
primary_conninfo = '%s dbname=postgres application_name=types_standby'
}, $primary->connstr)) if $major >= 17;
$standby->start;
$primary->wait_for_catchup($standby);
my $ss = $standby->background_psql('postgres');

# ---- one row per backend type ------------------------------------------

for my $n ([ 'primary', $ps ], [ 'standby', $ss ])
{
	my ($name, $s) = @$n;
	is_deeply(
		[ sort split /\n/, $s->query_safe('SELECT backend_type FROM pg_postmaster_stats_children') ],
		[ sort @types, @extra ],
		"PostgreSQL $major ($name): one row for each of its " . scalar(@types) . ' backend types');
}

# ---- live counts -------------------------------------------------------

# Exact counts of the processes the configuration starts, polled until the
# standby is streaming.
sub live_counts
{
	my ($s, %want) = @_;
	my $names = join ', ', map { "'$_'" } sort keys %want;
	my $want = join ',', map { "$_=$want{$_}" } sort keys %want;
	return poll_session($s, qq{SELECT string_agg(backend_type || '=' || children, ',' ORDER BY backend_type)
		FROM pg_postmaster_stats_children WHERE backend_type IN ($names)}, $want, 60), $want;
}
my %on_primary = (
	'archiver' => 1, 'autovacuum launcher' => 1, 'background writer' => 1,
	'checkpointer' => 1, 'walwriter' => 1,
	# the standby's walreceiver (its slot sync worker, 17+, connects as a
	# client backend)
	'walsender' => 1,
	'startup' => 0, 'walreceiver' => 0);
$on_primary{walsummarizer} = 1 if $major >= 17;
$on_primary{'io worker'} = 3 if $major >= 18;
my %on_standby = (
	'startup' => 1, 'walreceiver' => 1, 'checkpointer' => 1,
	'background writer' => 1, 'walsender' => 0, 'autovacuum launcher' => 0);
$on_standby{'slotsync worker'} = 1 if $major >= 17;
$on_standby{'io worker'} = 3 if $major >= 18;
my ($got, $want) = live_counts($ps, %on_primary);
is($got, $want, 'primary: one live process of each auxiliary type, and the walsenders');
($got, $want) = live_counts($ss, %on_standby);
is($got, $want, 'standby: startup, walreceiver' . ($major >= 17 ? ', slotsync worker' : '') . ' live');

# The server's own view of the same array agrees on every type
# (pg_stat_activity names a background worker by its bgw_type).
my $types_sql = join ', ', map { "'$_'" } @types;
for my $n ([ 'primary', $ps ], [ 'standby', $ss ])
{
	my ($name, $s) = @$n;
	my $diff = qq{SELECT coalesce(string_agg(format('%s: ours %s, pg_stat_activity %s', c.backend_type, c.children, a.n), '; '), '')
		FROM pg_postmaster_stats_children c
		CROSS JOIN LATERAL (SELECT count(*) AS n FROM pg_stat_activity
			WHERE CASE WHEN backend_type IN ($types_sql) THEN backend_type ELSE 'background worker' END = c.backend_type) a
		WHERE c.backend_type NOT IN ($extra_sql) AND c.children <> a.n};
	# a process starting between the two reads differs once: poll
	is(poll_session($s, $diff, '', 30), '', "$name: live counts equal pg_stat_activity's for every backend type");
}

# ---- exits of auxiliary processes (eBPF) -----------------------------------

my $bpf = poll_session($ps, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't', 30) eq 't' &&
	poll_session($ss, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't', 30) eq 't';
if (!$bpf)
{
	my $why = $ps->query_safe(q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'ebpf'});
	fail("the eBPF source is active (PPS_REQUIRE_BPF is set): $why") if $ENV{PPS_REQUIRE_BPF};
	note("eBPF source not active, exits not checked: $why");
	done_testing();
	exit;
}

# Exits by class whether or not the fork was seen: most of these processes
# were forked before the programs attached (counted apart, same class).
my $exits_sql = 'SELECT exits_total + exits_forked_before_attach_total FROM pg_postmaster_stats_children';
my $aux_exits = "$exits_sql WHERE backend_type = 'auxiliary'";

sub exits
{
	my ($s) = @_;
	my ($aux, $bgw) = split /\|/, $s->query_safe(qq{SELECT
		($aux_exits), ($exits_sql WHERE backend_type = 'background worker')});
	return ($aux, $bgw);
}

sub pid_of
{
	my ($s, $type) = @_;
	return $s->query_safe(qq{SELECT pid FROM pg_stat_activity WHERE backend_type = '$type'});
}

# The logger never registers in the status array: find it by its title.
sub logger_pid
{
	my ($node) = @_;
	my $pm = $node->safe_psql('postgres', 'SELECT postmaster_pid FROM pg_postmaster_stats');
	my ($pid) = grep {
		# a child may exit between the listing and the open: no title then
		my $t = '';
		if (open my $f, '<', "/proc/$_/cmdline") { $t = <$f> // ''; }
		$t =~ /^postgres: (\S+: )?(sys)?logger/;
	} split ' ', slurp_file("/proc/$pm/task/$pm/children");
	return $pid;
}

# Make $n auxiliary processes exit with $action, then check they are $n
# auxiliary exits and no background worker exit, and that the postmaster
# started $type again when $again.
sub check_exits
{
	my ($s, $what, $n, $action, $type, $again) = @_;
	my ($aux0, $bgw0) = exits($s);
	$action->();
	my $want = $aux0 + $n;
	is(poll_session($s, $aux_exits, $want, 60),
		$want, "$what: $n auxiliary exit" . ($n > 1 ? 's' : ''));
	if ($again)
	{
		poll_session($s, qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = '$type'}, $again, 60);
	}
	my ($aux1, $bgw1) = exits($s);
	is($bgw1 - $bgw0, 0, "$what: no background worker exit");
}

my $logger = logger_pid($primary);
ok($logger, "found the logger ($logger)");
check_exits($ps, 'logger killed', 1, sub { kill 'KILL', $logger });

for my $t ([ 'background writer', 'TERM' ], [ 'walwriter', 'TERM' ],
	[ 'autovacuum launcher', 'TERM' ],
	# SIGTERM would leave the archiver waiting a minute for SIGUSR2
	[ 'archiver', 'USR2' ],
	($major >= 17 ? ([ 'walsummarizer', 'TERM' ]) : ()))
{
	my ($type, $sig) = @$t;
	my $pid = pid_of($ps, $type);
	# (19 starts the archiver again only after a while: not waited for)
	check_exits($ps, "$type (SIG$sig)", 1, sub { kill $sig, $pid }, $type, $type eq 'archiver' ? 0 : 1);
}

if ($major >= 18)
{
	my @lower = $major == 18 ? ('io_workers') : ('io_min_workers', 'io_max_workers');
	check_exits($ps, join(', ', @lower) . ' lowered from 3 to 1', 2, sub {
		$ps->query_safe("ALTER SYSTEM SET $_ = 1") for @lower;
		$ps->query_safe('SELECT pg_reload_conf()');
	}, 'io worker', 1);
}

# the standby: walreceiver and slot sync worker restart; promotion ends the
# startup process and them
my $pid = pid_of($ss, 'walreceiver');
check_exits($ss, 'walreceiver (SIGTERM)', 1, sub { kill 'TERM', $pid }, 'walreceiver', 1);
if ($major >= 17)
{
	$pid = pid_of($ss, 'slotsync worker');
	# restarted after a 10 s pause (SLOTSYNC_RESTART_INTERVAL_SEC)
	check_exits($ss, 'slotsync worker (SIGTERM)', 1, sub { kill 'TERM', $pid }, 'slotsync worker', 1);
}
my $ending = $major >= 17 ? 3 : 2;
check_exits($ss, 'promotion (startup, walreceiver' . ($major >= 17 ? ', slotsync worker' : '') . ')',
	$ending, sub { $standby->promote });

$ss->quit;
$ps->quit;
$standby->stop;
$primary->stop;
done_testing();
