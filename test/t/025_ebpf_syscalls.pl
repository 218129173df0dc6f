# pg_postmaster_stats.ebpf_syscalls: whether the programs on every system
# call of the machine run.  Both ways, forks, exits, reaps and zombies stay
# exact and connection children are classified right:
#   off (the default): the loader does not even load the pair; reaps are
#     counted when the kernel frees the reaped child; no fork times or reap
#     latencies;
#   on: reaps come from sys_exit, with fork times and reap latencies.
# The postmaster's on-CPU split comes from the sampled registers either way.
# Each switch by a reload runs the loader again.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('syscalls',
	autovacuum => 'off',
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');
pps_require_bpf($s);

sub counters
{
	my @v = split /\|/, $s->query_safe(q{
		SELECT forks_total, exits_total, coalesce(reaps_total::text, 'null'),
		       coalesce(zombies::text, 'null'), samples_total,
		       (SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'client backend'),
		       (SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'background worker'),
		       clock_timestamp()
		  FROM pg_postmaster_stats});
	my %h;
	@h{qw(forks exits reaps zombies samples client bgworker time)} = @v;
	return \%h;
}

# counters once the sampler has folded in exactly $n more forks, exits and
# reaps (a reap is counted an RCU grace period after it happened)
sub settled
{
	my ($base, $n) = @_;
	poll_session($s,
		qq{SELECT forks_total - $base->{forks} >= $n AND exits_total - $base->{exits} >= $n
		          AND reaps_total - $base->{reaps} >= $n AND zombies = 0
		     FROM pg_postmaster_stats}, 't');
	my $c = counters();
	poll_session($s, "SELECT samples_total >= $c->{samples} + 3 FROM pg_postmaster_stats", 't');
	return counters();
}

sub pgbench_connections
{
	my ($n) = @_;
	$node->command_ok(
		[
			'pgbench', '-n', '-C', '-c', '1', '-t', $n,
			'-f', "$FindBin::RealBin/../workloads/select1.sql", 'postgres'
		],
		"pgbench -C -t $n");
}

# exactly $n+1 connections (pgbench's setup connection too) counted in
# every counter, all of them client backends
sub exact
{
	my ($mode, $c0, $c1, $n) = @_;
	is($c1->{forks} - $c0->{forks}, $n + 1, "$mode: forks move by exactly N+1 = " . ($n + 1));
	is($c1->{exits} - $c0->{exits}, $n + 1, "$mode: exits move by exactly N+1");
	is($c1->{reaps} - $c0->{reaps}, $n + 1, "$mode: reaps move by exactly N+1");
	is($c1->{client} - $c0->{client}, $n + 1, "$mode: all of them exit as client backends");
	is($c1->{bgworker} - $c0->{bgworker}, 0, "$mode: none as background workers");
}

# history rows since $t with a fork rate, and those with a fork time
sub fork_rows
{
	my ($t) = @_;
	return split /\|/, $s->query_safe(qq{
		SELECT count(*), count(fork_avg_seconds), count(reap_latency_avg_seconds)
		  FROM pg_postmaster_stats_history
		 WHERE time > '$t' AND forks_per_s > 0});
}

# ---- off ---------------------------------------------------------------------

is($s->query_safe('SHOW pg_postmaster_stats.ebpf_syscalls'), 'off', 'off is the default');

is(poll_session($s, q{SELECT detail LIKE '%system calls not traced (ebpf_syscalls = off)%'
	FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't'),
	't', 'off: the sources view says the system calls are not traced');
is($s->query_safe(q{SELECT detail FROM pg_postmaster_stats_overhead WHERE component = 'ebpf:sys_enter'}),
	'not loaded: pg_postmaster_stats.ebpf_syscalls is off', 'off: the overhead view says sys_enter is not loaded, and why');

my $N = 20;
my $c0 = settled(counters(), 0);
pgbench_connections($N);
my $c1 = settled($c0, $N + 1);
exact('off', $c0, $c1, $N);
my ($rows, $timed, $reaped) = fork_rows($c0->{time});
cmp_ok($rows, '>=', 1, 'off: the history has intervals with forks');
is("$timed $reaped", '0 0', 'off: none has a fork time or a reap latency');
is($s->query_safe(qq{SELECT count(*) FROM pg_postmaster_stats_history
		WHERE time > '$c0->{time}' AND forks_per_s > 0 AND reaps_per_s IS NULL}),
	'0', 'off: every interval with forks has a reap rate');

# ---- on ------------------------------------------------------------------------

$s->query_safe(q{ALTER SYSTEM SET pg_postmaster_stats.ebpf_syscalls = on});
$s->query_safe(q{SELECT pg_reload_conf()});
is(poll_session($s, q{SELECT active AND detail NOT LIKE '%system calls%'
	FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't'),
	't', 'on after a reload: eBPF active again, with the system calls traced always');
$c0 = settled(counters(), 0);
pgbench_connections($N);
$c1 = settled($c0, $N + 1);
exact('on', $c0, $c1, $N);
($rows, $timed, $reaped) = fork_rows($c0->{time});
cmp_ok($timed, '>=', int($rows / 2), "on: most intervals with forks have a fork time ($timed of $rows)");
cmp_ok($reaped, '>=', 1, 'on: and some a reap latency');
is($s->query_safe(q{SELECT detail FROM pg_postmaster_stats_overhead WHERE component = 'ebpf:free'}),
	'not loaded: only while pg_postmaster_stats.ebpf_syscalls is off (sys_exit counts the reaps)',
	'on: the overhead view says the free program is not loaded, and why');

# ---- bad values ------------------------------------------------------------------

my ($ret, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET pg_postmaster_stats.ebpf_syscalls = 'sometimes'});
like($err, qr/parameter "pg_postmaster_stats.ebpf_syscalls" requires a Boolean value/,
	'a value that is not a boolean is rejected');
is($s->query_safe('SHOW pg_postmaster_stats.ebpf_syscalls'), 'on', 'and the setting is unchanged');

$s->quit;
$node->stop;
done_testing();
