# The cgroup CPU source: quota in cores, throttled periods and time.
# (a) The readers on fixture directories with the v2 and the v1 layout
#     (pg_postmaster_stats.cgroup_cpu_dir): figures exactly, then deltas of
#     changed counters exactly.
# (b) Live, cgroup v1: the postmaster moved into a cgroup with a 0.20 CPU
#     quota that test/run-tests.sh (root) prepared for the test user; a CPU
#     load gives throttling that agrees with the cgroup's own cpu.stat over
#     the same window.  Skipped when the cgroup was not prepared (not run as
#     root), except with PPS_REQUIRE_BPF (CI), where that is a failure.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;
use Time::HiRes qw(usleep);

my $node = pps_node('cgroup',
	autovacuum => 'off',
	'pg_postmaster_stats.sample_interval' => '100ms');
my $s = $node->background_psql('postgres');
my $pm = $node->safe_psql('postgres', 'SELECT postmaster_pid FROM pg_postmaster_stats');

sub put
{
	my ($file, $text) = @_;
	# write and rename: the sampler never reads a half-written file
	open(my $fh, '>', "$file.tmp") or die "$file.tmp: $!";
	print $fh $text;
	close($fh) or die "$file.tmp: $!";
	rename("$file.tmp", $file) or die "$file: $!";
}

sub set_dir
{
	my ($dir) = @_;
	$s->query_safe("ALTER SYSTEM SET pg_postmaster_stats.cgroup_cpu_dir = '$dir'");
	$s->query_safe('SELECT pg_reload_conf()');
}

sub detail
{
	return $s->query_safe(q{SELECT active || ' ' || detail FROM pg_postmaster_stats_sources
		WHERE source = 'cgroup_cpu'});
}

# Change the fixture's counters and check the one sample that sees it.
sub check_delta
{
	my ($label, $stat, $text, $pct, $seconds, $totals) = @_;
	my $t0 = $s->query_safe('SELECT max("time") FROM pg_postmaster_stats_history');
	put("$stat", $text);
	is(poll_session($s, q{SELECT cgroup_throttled_periods_total || ' ' || cgroup_throttled_seconds_total
			FROM pg_postmaster_stats}, $totals), $totals, "$label: totals are the new counters");
	# the sample that saw the change, and none after it, moved
	is( $s->query_safe(qq{
		SELECT count(*) || ' ' || string_agg(cgroup_throttled_periods_pct::text, ',') || ' '
		       || bool_and(abs(cgroup_throttled_seconds_per_s * interval_seconds - $seconds) < 1e-9)
		  FROM pg_postmaster_stats_history
		 WHERE "time" > '$t0' AND (cgroup_throttled_periods_pct <> 0 OR cgroup_throttled_seconds_per_s <> 0)}),
		"1 $pct true", "$label: one sample has ${pct}% of periods throttled and ${seconds} s throttled");
}

# ---- (a) fixtures ------------------------------------------------------------

my $fx = PostgreSQL::Test::Utils::tempdir('cgroup_fixture');

# v2: cpu.max "quota period", cpu.stat throttled_usec
my $v2 = "$fx/v2";
make_path($v2);
put("$v2/cpu.max", "50000 100000\n");
put("$v2/cpu.stat", "usage_usec 8000000\nuser_usec 6000000\nsystem_usec 2000000\n"
	  . "nr_periods 1000\nnr_throttled 250\nthrottled_usec 4000000\nnr_bursts 0\nburst_usec 0\n");
set_dir($v2);
is(poll_session($s, q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'cgroup_cpu'},
		"cgroup v2 $v2 (pg_postmaster_stats.cgroup_cpu_dir): quota 0.50 CPU (50000/100000 us); the cgroup and its quota looked up every 5 s, throttling from its cpu.stat every sample"),
	"cgroup v2 $v2 (pg_postmaster_stats.cgroup_cpu_dir): quota 0.50 CPU (50000/100000 us); the cgroup and its quota looked up every 5 s, throttling from its cpu.stat every sample",
	'v2 fixture: the sources view names the directory, the version and the quota');
# two samples of the fixture: the second has rates, all zero
is(poll_session($s, q{SELECT cgroup_cpu_limit_cores || ' ' || cgroup_throttled_periods_total || ' '
		|| cgroup_throttled_seconds_total || ' ' || cgroup_throttled_periods_pct || ' '
		|| cgroup_throttled_seconds_per_s FROM pg_postmaster_stats}, '0.5 250 4 0 0'),
	'0.5 250 4 0 0', 'v2 fixture: 0.5 cores, the cumulative counters, no throttling while they stand still');
is( $s->query_safe(q{SELECT value FROM pg_postmaster_stats_metrics
		WHERE name = 'pg_postmaster_cgroup_cpu_limit_cores'}), '0.5',
	'v2 fixture: pg_postmaster_cgroup_cpu_limit_cores is the quota in cores');
check_delta('v2 fixture', "$v2/cpu.stat",
	"usage_usec 8100000\nuser_usec 6000000\nsystem_usec 2100000\n"
	  . "nr_periods 1040\nnr_throttled 260\nthrottled_usec 4300000\nnr_bursts 0\nburst_usec 0\n",
	25, 0.3, '260 4.3');
is( $s->query_safe(q{SELECT string_agg(name || '=' || value, ' ' ORDER BY name) FROM pg_postmaster_stats_metrics
		WHERE name LIKE 'pg_postmaster_cgroup_throttled%'}),
	'pg_postmaster_cgroup_throttled_periods_total=260 pg_postmaster_cgroup_throttled_seconds_total=4.3',
	'v2 fixture: the metrics are the cgroup\'s own counters, in seconds');

# v2 without a quota: no limit, no limit metric, throttling still read
put("$v2/cpu.max", "max 100000\n");
is(poll_session($s, q{SELECT coalesce(cgroup_cpu_limit_cores::text, 'null') || ' '
		|| (SELECT count(*) FROM pg_postmaster_stats_metrics WHERE name = 'pg_postmaster_cgroup_cpu_limit_cores')
		FROM pg_postmaster_stats}, 'null 0'),
	'null 0', 'v2 fixture, cpu.max "max": no limit and no limit metric');
like(detail(), qr/^true cgroup v2 \Q$v2\E .*: no CPU quota;/, 'v2 fixture, cpu.max "max": the sources view says no CPU quota');

# v1: cfs quota and period, throttled_time in ns
my $v1 = "$fx/v1";
make_path($v1);
put("$v1/cpu.cfs_quota_us", "150000\n");
put("$v1/cpu.cfs_period_us", "100000\n");
put("$v1/cpu.stat", "nr_periods 77\nnr_throttled 7\nthrottled_time 123456789\nnr_bursts 0\nburst_time 0\n");
set_dir($v1);
is(poll_session($s, q{SELECT cgroup_cpu_limit_cores || ' ' || cgroup_throttled_periods_total || ' '
		|| cgroup_throttled_seconds_total || ' ' || cgroup_throttled_periods_pct || ' '
		|| cgroup_throttled_seconds_per_s FROM pg_postmaster_stats}, '1.5 7 0.123456789 0 0'),
	'1.5 7 0.123456789 0 0', 'v1 fixture: 1.5 cores, nr_throttled, throttled_time in seconds');
like(detail(), qr/^true cgroup v1 \Q$v1\E .*: quota 1\.50 CPU \(150000\/100000 us\);/,
	'v1 fixture: the sources view says v1 and the quota');
check_delta('v1 fixture', "$v1/cpu.stat",
	"nr_periods 97\nnr_throttled 12\nthrottled_time 173456789\nnr_bursts 0\nburst_time 0\n",
	25, 0.05, '12 0.173456789');
put("$v1/cpu.cfs_quota_us", "-1\n");
is(poll_session($s, q{SELECT coalesce(cgroup_cpu_limit_cores::text, 'null') FROM pg_postmaster_stats}, 'null'),
	'null', 'v1 fixture, quota -1: no limit');

# a directory with neither layout: inactive, columns NULL, the reason named
set_dir($fx);
is(poll_session($s, q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'cgroup_cpu'}, 'f'),
	'f', 'a directory without cgroup files: the source is inactive');
like(detail(), qr/^false neither cpu\.max \(cgroup v2\) nor cpu\.cfs_quota_us .* in \Q$fx\E/,
	'and the sources view says which files are missing where');
is(poll_session($s, q{SELECT count(*) FROM pg_postmaster_stats_metrics WHERE name LIKE 'pg_postmaster_cgroup%'}, '0'),
	'0', 'and the metrics view has no cgroup metrics');

# a relative path is refused
my ($ret, $out, $err) = $node->psql('postgres',
	q{ALTER SYSTEM SET pg_postmaster_stats.cgroup_cpu_dir = 'sys/fs/cgroup'});
like($err, qr/must be empty or an absolute path/, 'a relative cgroup_cpu_dir is rejected');

# back to the postmaster's own cgroup, found from /proc and the mount table
$s->query_safe('ALTER SYSTEM RESET pg_postmaster_stats.cgroup_cpu_dir');
$s->query_safe('SELECT pg_reload_conf()');
is(poll_session($s, q{SELECT active AND detail NOT LIKE '%cgroup_cpu_dir%' FROM pg_postmaster_stats_sources
		WHERE source = 'cgroup_cpu'}, 't'), 't', 'without the setting the postmaster\'s own cgroup is found');
my ($own) = detail() =~ /^true cgroup v\d (\S+):/;
ok(defined $own && -f "$own/cpu.stat", "its directory has a cpu.stat (" . ($own // 'none') . ')');

# ---- (b) live, cgroup v1 -----------------------------------------------------

# the v1 cpu hierarchy's mount point, from this process's mount table
my $mnt;
for (split /\n/, slurp_file('/proc/self/mountinfo'))
{
	my @f = split / /;
	my ($sep) = grep { $f[$_] eq '-' } 0 .. $#f;
	next unless defined $sep && $f[ $sep + 1 ] eq 'cgroup';
	next unless grep { $_ eq 'cpu' } split /,/, $f[ $sep + 3 ];
	$mnt = $f[4];
	last;
}
my $base = defined $mnt ? "$mnt/pps_test" : undef;
my $why =
	!defined $mnt ? 'no cgroup v1 cpu hierarchy is mounted (cgroup v2 is covered by the fixture only)'
  : !-d $base ? "$base does not exist: test/run-tests.sh creates it when run as root"
  : !-w "$base/cgroup.procs" ? "$base/cgroup.procs is not writable by this user: test/run-tests.sh prepares it when run as root"
  : undef;

SKIP:
{
	if (defined $why)
	{
		fail("the cgroup for the live test is prepared (PPS_REQUIRE_BPF is set): $why")
		  if $ENV{PPS_REQUIRE_BPF};
		$s->quit;
		skip "live cgroup test: $why", 13;
	}

	my $cg = "$base/node_$$";
	mkdir($cg) or die "mkdir $cg: $!";
	put_raw("$cg/cpu.cfs_quota_us", "20000\n");
	put_raw("$cg/cgroup.procs", "$pm\n");
	is(poll_session($s, q{SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'cgroup_cpu'},
			"cgroup v1 $cg: quota 0.20 CPU (20000/100000 us); the cgroup and its quota looked up every 5 s, throttling from its cpu.stat every sample"),
		"cgroup v1 $cg: quota 0.20 CPU (20000/100000 us); the cgroup and its quota looked up every 5 s, throttling from its cpu.stat every sample",
		'live: the postmaster moved into the cgroup is found there, with its quota');
	is(poll_session($s, 'SELECT cgroup_cpu_limit_cores FROM pg_postmaster_stats', '0.2'), '0.2',
		'live: cgroup_cpu_limit_cores is 0.20 exactly');

	# the window starts with a sample taken while the idle cgroup's counters stand still
	my ($t0, $before) = poll_stat($cg);
	ok(defined $t0, 'live: a sample has the cgroup\'s counters before the load');

	# CPU load in backends forked into the cgroup: 2 clients, 3 s
	my $script = "$fx/burn.sql";
	put($script, "SELECT count(*) FROM generate_series(1, 2000000);\n");
	$node->command_ok(
		[
			'pgbench', '-n', '-c', '2', '-T', '3', '-f', $script,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'live: pgbench CPU load in the cgroup');

	my ($t1, $after) = poll_stat($cg);
	ok(defined $t1, 'live: a sample after the load has the cgroup\'s own counters exactly');
	cmp_ok($after->{nr_throttled} - $before->{nr_throttled}, '>', 0,
		'live: the kernel throttled the cgroup ('
		  . ($after->{nr_throttled} - $before->{nr_throttled}) . ' periods, '
		  . ($after->{throttled_time} - $before->{throttled_time}) / 1e9 . ' s)');
	my ($sum_s, $max_pct, $limits) = split /\|/, $s->query_safe(qq{
		SELECT sum(cgroup_throttled_seconds_per_s * interval_seconds),
		       max(cgroup_throttled_periods_pct),
		       string_agg(DISTINCT cgroup_cpu_limit_cores::text, ',')
		  FROM pg_postmaster_stats_history WHERE "time" > '$t0' AND "time" <= '$t1'});
	ok(abs($sum_s - ($after->{throttled_time} - $before->{throttled_time}) / 1e9) < 1e-6,
		"live: the history's throttled seconds over the window ($sum_s) are the cgroup's");
	cmp_ok($max_pct, '>', 0, "live: samples show throttled periods (up to $max_pct%)");
	is($limits, '0.2', 'live: every sample of the window has the 0.20 limit');

	# the diagnosis of that window: cpu_throttled, in exactly the samples
	# where at least throttled_pct of the periods were throttled
	my ($diag, $want) = split /\|/, $s->query_safe(qq{
		SELECT (SELECT coalesce(string_agg(finding || ' ' || samples, ','), 'none')
		          FROM pg_postmaster_stats_diagnose(timestamptz '$t1' - timestamptz '$t0', '$t1')
		         WHERE finding = 'cpu_throttled'),
		       (SELECT count(*) FROM pg_postmaster_stats_history
		         WHERE "time" >= '$t0' AND "time" <= '$t1'
		           AND cgroup_throttled_periods_pct >= (SELECT value FROM pg_postmaster_stats_diagnosis_rules
		                                                 WHERE threshold = 'throttled_pct'))});
	cmp_ok($want, '>=', 2, "live: $want samples of the window were throttled in 5% of their periods or more");
	is($diag, "cpu_throttled $want", 'live: the diagnosis of the window is cpu_throttled, in exactly those samples');

	# back to the parent, which the test user may write to; then the cgroup goes
	put_raw("$base/cgroup.procs", "$pm\n");
	is(poll_session($s, q{SELECT coalesce(cgroup_cpu_limit_cores::text, 'null') || ' '
			|| (SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'cgroup_cpu')
			FROM pg_postmaster_stats} , "null cgroup v1 $base: no CPU quota on it or its 1 ancestor(s); the cgroup and its quota looked up every 5 s, throttling from its cpu.stat every sample"),
		"null cgroup v1 $base: no CPU quota on it or its 1 ancestor(s); the cgroup and its quota looked up every 5 s, throttling from its cpu.stat every sample",
		'live: moved back, the postmaster is found in the parent, without a quota');
	$s->quit;
	$node->stop;
	ok(rmdir($cg), "live: the test's cgroup is removed") or diag("rmdir $cg: $!");
}

done_testing();

# Write to a cgroup file in place (cgroup files cannot be renamed onto).
sub put_raw
{
	my ($file, $text) = @_;
	open(my $fh, '>', $file) or die "$file: $!";
	print $fh $text;
	close($fh) or die "$file: $!";
}

sub stat_v1
{
	my ($dir) = @_;
	my %h = map { split / / } split /\n/, slurp_file("$dir/cpu.stat");
	return \%h;
}

# Wait until the latest sample has exactly the counters the cgroup's cpu.stat
# has now (read again on each try); returns the sample's time and the
# counters, or undef.
sub poll_stat
{
	my ($dir) = @_;
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		my $want = stat_v1($dir);
		# always one row: BackgroundPsql of some minor releases (16.2, 17.2)
		# returns its separator as the output of a query without rows
		my $t = $s->query_safe(qq{SELECT 'at ' || coalesce((SELECT sampled_at::text FROM pg_postmaster_stats
			WHERE cgroup_throttled_periods_total = $want->{nr_throttled}
			  AND round(cgroup_throttled_seconds_total * 1e9) = $want->{throttled_time}), 'none')});
		return ($1, $want) if $t =~ /^at (.+)$/ && $1 ne 'none';
		usleep(100_000);
	}
	return;
}
