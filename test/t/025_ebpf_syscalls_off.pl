# pg_postmaster_stats.ebpf_syscalls = off: the loader leaves the raw
# syscall programs out (nothing runs on the machine's system calls), forks
# and exits stay exact, and what only the syscall programs can see (reaps,
# zombies, fork and reap times, the postmaster's on-CPU split) is NULL and
# the sources view says why.  Turned on by a reload, the loader runs again
# with them and reaps are counted exactly again.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('syscalls_off',
	autovacuum => 'off',
	'pg_postmaster_stats.ebpf_syscalls' => 'off',
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');

pps_require_bpf($s);

is(poll_session($s, q{SELECT detail LIKE '%system calls not traced (ebpf_syscalls = off)%'
	FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't'),
	't', 'off: the sources view says the system calls are not traced, and what that hides');

sub counters
{
	my @v = split /\|/, $s->query_safe(q{
		SELECT forks_total, exits_total, coalesce(reaps_total::text, 'null'),
		       coalesce(zombies::text, 'null'), samples_total
		  FROM pg_postmaster_stats});
	my %h;
	@h{qw(forks exits reaps zombies samples)} = @v;
	return \%h;
}

# counters once the sampler has folded in exactly $n more forks and exits
sub settled
{
	my ($base, $n) = @_;
	poll_session($s,
		qq{SELECT forks_total - $base->{forks} >= $n AND exits_total - $base->{exits} >= $n
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

# pgbench -C: one setup connection, then one per transaction
my $N = 20;
my $c0 = settled(counters(), 0);
pgbench_connections($N);
my $c1 = settled($c0, $N + 1);
is($c1->{forks} - $c0->{forks}, $N + 1, "off: forks move by exactly N+1 = " . ($N + 1));
is($c1->{exits} - $c0->{exits}, $N + 1, 'off: exits move by exactly N+1');
is("$c1->{reaps} $c1->{zombies}", 'null null', 'off: reaps_total and zombies are NULL, not 0');
is( $s->query_safe(q{SELECT count(*) FROM pg_postmaster_stats_history
		WHERE time > now() - interval '2 s' AND forks_per_s IS NOT NULL
		  AND (reaps_per_s IS NOT NULL OR fork_avg_seconds IS NOT NULL
		       OR reap_latency_avg_seconds IS NOT NULL)}),
	'0', 'off: no reap rate, fork time or reap latency in the history, while forks are counted');

# on by a reload: the loader runs again, with the syscall programs
$s->query_safe(q{ALTER SYSTEM SET pg_postmaster_stats.ebpf_syscalls = on});
$s->query_safe(q{SELECT pg_reload_conf()});
is(poll_session($s, q{SELECT active AND detail NOT LIKE '%not traced%'
	FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't'),
	't', 'on after a reload: eBPF active again, with the system calls traced');
poll_session($s, q{SELECT reaps_total IS NOT NULL AND zombies IS NOT NULL FROM pg_postmaster_stats}, 't');
$c0 = settled(counters(), 0);
pgbench_connections($N);
$c1 = settled($c0, $N + 1);
poll_session($s, "SELECT reaps_total - $c0->{reaps} >= $N + 1 FROM pg_postmaster_stats", 't');
$c1 = counters();
is($c1->{forks} - $c0->{forks}, $N + 1, 'on: forks move by exactly N+1');
is($c1->{reaps} - $c0->{reaps}, $N + 1, 'on: reaps move by exactly N+1');

# a value that is not a boolean is refused, and nothing changes
my ($ret, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET pg_postmaster_stats.ebpf_syscalls = 'sometimes'});
like($err, qr/requires a Boolean value/, 'a non-boolean ebpf_syscalls is rejected');
is($s->query_safe('SHOW pg_postmaster_stats.ebpf_syscalls'), 'on', 'and the setting is unchanged');

$s->quit;
$node->stop;
done_testing();
