# pg_postmaster_stats_overhead: the extension's own cost.  The workers' CPU
# agrees with the kernel's figure for their processes; the hooks count
# exactly the connections and executor runs of a known workload; the eBPF
# row follows kernel.bpf_stats_enabled (which only root can change: the
# test checks whichever state it finds, and with PPS_EXPECT_BPF_STATS set
# by test/run-tests.sh, that it is the state that script set).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IPC::Run;
use POSIX ();
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

my $node = pps_node('overhead',
	autovacuum => 'off',
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');

sub row
{
	my ($component) = @_;
	my ($calls, $cpu, $avg, $pct, $detail) = split /\|/, $s->query_safe(
		qq{SELECT calls_total, cpu_seconds_total, coalesce(avg_ns_per_call, -1),
		          coalesce(cpu_pct_of_one_core, -1), detail
		     FROM pg_postmaster_stats_overhead WHERE component = '$component'});
	return { calls => $calls, cpu => $cpu, avg => $avg, pct => $pct, detail => $detail };
}

# ---- shape ---------------------------------------------------------------------

my @components = split /\n/, $s->query_safe(
	q{SELECT component FROM pg_postmaster_stats_overhead WHERE strpos(component, ':') = 0});
is(join(' ', @components), 'sampler probe auth_hook executor_end_hook ebpf sql',
	'one row per part');
poll_session($s, q{SELECT cpu_pct_of_one_core IS NOT NULL FROM pg_postmaster_stats_overhead
                    WHERE component = 'sampler'}, 't');
my $sampler = row('sampler');
cmp_ok($sampler->{pct}, '>', 0, "sampler: share of one core over the last interval ($sampler->{pct}%)");
cmp_ok($sampler->{avg}, '>', 0, "sampler: $sampler->{avg} ns per tick");
my $split = $s->query_safe(q{SELECT sum(cpu_seconds_total) FROM pg_postmaster_stats_overhead
                              WHERE component LIKE 'sampler:%'});
my $whole = $s->query_safe(q{SELECT cpu_seconds_total FROM pg_postmaster_stats_overhead
                              WHERE component = 'sampler'});
ok($split > 0 && $split <= $whole, "the per-source split ($split s) is inside the sampler's CPU ($whole s)");

# ---- the workers' CPU against /proc/<pid>/stat ------------------------------------

my $clk_tck = POSIX::sysconf(POSIX::_SC_CLK_TCK);
sub proc_cpu
{
	my ($pid) = @_;
	my $stat = slurp_file("/proc/$pid/stat");
	$stat =~ s/^.*\) //s;    # past the command name
	my @f = split / /, $stat;
	return ($f[11] + $f[12]) / $clk_tck;    # utime + stime
}

poll_session($s, q{SELECT count(*) FROM pg_stat_activity
                    WHERE backend_type = 'pg_postmaster_stats probe'}, '1');
my %pid = (
	sampler => $s->query_safe('SELECT worker_pid FROM pg_postmaster_stats'),
	probe => $s->query_safe(
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_postmaster_stats probe'}));
my (%view0, %proc0);
for my $w (keys %pid)
{
	$proc0{$w} = proc_cpu($pid{$w});
	$view0{$w} = row($w)->{cpu};
}
# a window long enough for the kernel's clock ticks to matter little
sleep 20;
for my $w (sort keys %pid)
{
	my $proc = proc_cpu($pid{$w}) - $proc0{$w};
	my $r = row($w);
	my $view = $r->{cpu} - $view0{$w};
	# /proc truncates utime and stime to whole clock ticks (under two ticks
	# on a difference), and the view adds a worker's CPU at the end of each
	# of its ticks (it lags by under one tick's CPU at each end): that much
	# slack, or 5%, whichever is more
	my $granularity = 2 / $clk_tck + 2 * $r->{avg} / 1e9;
	my $slack = $granularity > 0.05 * $proc ? $granularity : 0.05 * $proc;
	cmp_ok(abs($view - $proc), '<=', $slack,
		sprintf('%s: %.4f s in the view, %.4f s in /proc/%d/stat over the same 20 s', $w, $view, $proc, $pid{$w}));
	cmp_ok($proc, '>', 0, "$w: used CPU in the window");
}

# ---- hooks: exact counts of a known workload ------------------------------------------

my $before = $s->query_safe(q{SELECT string_agg(calls_total::text, ' ' ORDER BY component)
                               FROM pg_postmaster_stats_overhead
                              WHERE component IN ('auth_hook', 'executor_end_hook')});
my $n = 12;
$node->safe_psql('postgres', "SELECT 1;\nSELECT 2;\nSELECT 3;") for 1 .. $n;
my $after = $s->query_safe(q{SELECT string_agg(calls_total::text, ' ' ORDER BY component)
                              FROM pg_postmaster_stats_overhead
                             WHERE component IN ('auth_hook', 'executor_end_hook')});
my ($auth0, $exec0) = split / /, $before;
my ($auth1, $exec1) = split / /, $after;
is($auth1 - $auth0, $n, "auth_hook: one call per connection ($n)");
# three statements per connection, plus the query that read $before
is($exec1 - $exec0, 3 * $n + 1, 'executor_end_hook: one call per statement');
my $auth = row('auth_hook');
like($auth->{detail}, qr/1 call in 64/, 'auth_hook: says how its time is measured');

# ---- sql: the scraper's share --------------------------------------------------------

my $sql0 = row('sql');
$s->query_safe('SELECT count(*) FROM pg_postmaster_stats_metrics');
my $sql1 = row('sql');
cmp_ok($sql1->{calls} - $sql0->{calls}, '>=', 5, 'sql: a metrics scrape counts its function calls');
cmp_ok($sql1->{cpu}, '>', $sql0->{cpu}, 'sql: and their CPU');

# ---- reset ------------------------------------------------------------------------

$s->query_safe('SELECT pg_postmaster_stats_reset()');
cmp_ok(row('auth_hook')->{calls}, '==', 0, 'reset zeroes the counts');

# ---- eBPF: the kernel's own accounting ------------------------------------------------

pps_require_bpf($s);
my $state = slurp_file('/proc/sys/kernel/bpf_stats_enabled');
chomp $state;
is($state, $ENV{PPS_EXPECT_BPF_STATS}, "kernel.bpf_stats_enabled is $state, as test/run-tests.sh set it")
  if defined $ENV{PPS_EXPECT_BPF_STATS};
poll_session($s, q{SELECT detail NOT LIKE 'no eBPF%' FROM pg_postmaster_stats_overhead
                    WHERE component = 'ebpf'}, 't');

sub settled_ebpf
{
	# two samples later every run is folded in
	my $n = $s->query_safe('SELECT samples_total FROM pg_postmaster_stats');
	poll_session($s, "SELECT samples_total >= $n + 2 FROM pg_postmaster_stats", 't');
	my %r;
	for (split /\n/, $s->query_safe(
		q{SELECT component, calls_total, cpu_seconds_total FROM pg_postmaster_stats_overhead
		   WHERE component LIKE 'ebpf%'}))
	{
		my ($c, $calls, $cpu) = split /\|/;
		$r{$c} = { calls => $calls, cpu => $cpu };
	}
	return \%r;
}

my $e0 = settled_ebpf();
my $conns = 30;
my ($out, $err) = ('', '');
IPC::Run::run(
	[
		'pgbench', '-n', '-C', '-c', '1', '-t', $conns,
		'-f', "$FindBin::RealBin/../workloads/select1.sql",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err) or die "pgbench: $err";
my $e1 = settled_ebpf();
my $detail = row('ebpf')->{detail};
if ($state eq '1')
{
	for my $p ('ebpf:fork', 'ebpf:exit')
	{
		cmp_ok($e1->{$p}{calls} - $e0->{$p}{calls}, '>=', $conns,
			"$p: ran at least once per connection of pgbench -C ($conns)");
	}
	cmp_ok($e1->{ebpf}{calls} - $e0->{ebpf}{calls}, '>', $conns, 'ebpf: run count grew');
	cmp_ok($e1->{ebpf}{cpu}, '>', $e0->{ebpf}{cpu}, 'ebpf: run time grew');
	cmp_ok($e1->{ebpf}{cpu}, '>', 0, 'ebpf: run time above zero');
	like($detail, qr/kernel\.bpf_stats_enabled = 1/, 'ebpf: says where the figures come from');
}
else
{
	like($detail, qr/disabled.*sysctl kernel\.bpf_stats_enabled=1/,
		'ebpf: says statistics are disabled and how to enable them');
	is($e1->{ebpf}{calls}, $e0->{ebpf}{calls}, 'ebpf: no run counted while disabled');
}

$s->quit;
$node->stop;
done_testing();
