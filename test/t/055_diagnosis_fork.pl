# The diagnosis of the postmaster's own limits, driven by real conditions:
#   (a) a postmaster whose every fork is expensive (the test fixture
#       test/fatfork maps and touches private memory in it, so fork copies
#       megabytes of page tables) under pgbench -C -c 4 gives
#       postmaster_saturated, whose remedy names huge pages (forks take
#       the rule's fork_slow_seconds or more);
#   (b) a storm with the postmaster pinned to one CPU next to a busy loop
#       pinned there too gives postmaster_cpu_starved;
#   (c) an idle server, a plain pgbench -S run and pgbench -C at 5
#       connections/s give no finding above info.
# Each finding's since and samples are checked against the history: since
# is a sample of the window lying in the workload, samples counts samples
# of the workload only; evidence is keyed by columns of its source views.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;

# 2 GiB make each fork copy 4 MiB of page tables (one 8-byte entry per
# 4 KiB page): tens of milliseconds per fork, far more than a backend costs.
my $fat_mb = $ENV{PPS_FATFORK_MB} // 2048;
my $select1 = "$FindBin::RealBin/../workloads/select1.sql";
my %rank = (info => 0, warning => 1, critical => 2);

my $pkglib = `pg_config --pkglibdir`;
chomp $pkglib;
if (!-f "$pkglib/pps_test_fatfork.so")
{
	fail("the test fixture $pkglib/pps_test_fatfork.so is installed "
		  . '(test/run-tests.sh installs it; by hand: make -C test/fatfork install)');
	done_testing();
	exit;
}

sub now_ts { return $_[0]->safe_psql('postgres', 'SELECT clock_timestamp()'); }

# wait until the sampler has taken $n more samples
sub wait_samples
{
	my ($node, $n) = @_;
	my $s0 = $node->safe_psql('postgres', 'SELECT samples_total FROM pg_postmaster_stats');
	my $want = $s0 + $n;
	$node->poll_query_until('postgres',
		"SELECT samples_total >= $want FROM pg_postmaster_stats")
	  or die "no $n new samples";
}

# The findings over the window from $t0 to now, as a list of hashes.
sub diagnose
{
	my ($node, $t0) = @_;
	my $json = $node->safe_psql('postgres', qq{
		SELECT coalesce(json_agg(d), '[]') FROM pg_postmaster_stats_diagnose(
			clock_timestamp() - '$t0'::timestamptz) d});
	my $rows = decode_json($json);
	note(sprintf('  %s %s since %s, %d samples: %s | remedy: %s | evidence %s',
			$_->{finding}, $_->{severity}, $_->{since}, $_->{samples},
			$_->{summary}, $_->{remedy} // '', encode_json($_->{evidence} // {})))
	  for @$rows;
	return $rows;
}

sub above_info { return grep { $rank{ $_->{severity} } > 0 } @{ $_[0] }; }

# The findings above info, sorted, without accept_backlog (whether a sample
# catches a connection in the listen queue under a few clients is chance)
# and without the other findings named in @optional.
sub findings_of
{
	my ($rows, @optional) = @_;
	my %skip = map { $_ => 1 } ('accept_backlog', @optional);
	return join(',', sort map { $_->{finding} }
		  grep { !$skip{ $_->{finding} } } above_info($rows));
}
sub finding { my ($rows, $id) = @_; return (grep { $_->{finding} eq $id } @$rows)[0]; }

# The history of the window, one line per sample: what the findings rest on.
sub note_history
{
	my ($node, $t0, $t1) = @_;
	note($node->safe_psql('postgres', qq{
		SELECT string_agg(format('  %s conn/s %s cpu %s%% wait %s%% fork %s ms queue %s pt %s MiB',
			to_char("time", 'HH24:MI:SS'), round(connections_per_s::numeric, 1),
			round(postmaster_cpu_pct::numeric, 1), round(postmaster_cpu_wait_pct::numeric, 1),
			round((fork_avg_seconds * 1000)::numeric, 1), accept_queue_depth,
			round(postmaster_pagetable_bytes / 1048576.0, 1)), E'\n' ORDER BY "time")
		  FROM pg_postmaster_stats_history WHERE "time" > '$t0' AND "time" <= '$t1'}));
}

# since and samples against the history: the finding held only in samples
# that cover the workload (from $w0 to $w1), in at least half of them, and
# since is one of those samples.  Evidence keys are columns of source_views.
sub check_finding
{
	my ($node, $row, $w0, $w1, $what) = @_;
	my $id = $row->{finding};
	my ($in_workload, $since_ok) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT count(*),
		       count(*) FILTER (WHERE "time" = '$row->{since}'::timestamptz)
		  FROM pg_postmaster_stats_history
		 WHERE "time" > '$w0' AND "time" - interval_seconds * interval '1 s' < '$w1'});
	is($since_ok, '1', "$what: $id since is a sample of the workload");
	cmp_ok($row->{samples}, '<=', $in_workload,
		"$what: $id held in at most the workload's $in_workload samples");
	cmp_ok($row->{samples}, '>=', $in_workload / 2,
		"$what: $id held in at least half of the workload's $in_workload samples");
	my $after_since = $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pg_postmaster_stats_history
		 WHERE "time" >= '$row->{since}' AND "time" - interval_seconds * interval '1 s' < '$w1'});
	cmp_ok($row->{samples}, '>=', 1, "$what: $id held in at least one sample");
	cmp_ok($after_since, '>=', 1, "$what: $id since is not after the workload");

	my $views = join(',', map { "'$_'" } @{ $row->{source_views} });
	my $unknown = $node->safe_psql('postgres', qq{
		SELECT coalesce(string_agg(k, ', '), '') FROM jsonb_object_keys('@{[ encode_json($row->{evidence} // {}) =~ s/'/''/gr ]}'::jsonb) k
		 WHERE k <> ALL (ARRAY[$views]::text[])
		   AND NOT EXISTS (SELECT 1 FROM pg_attribute a
			WHERE a.attrelid IN (SELECT to_regclass(v) FROM unnest(ARRAY[$views]::text[]) v)
			  AND a.attname = k AND a.attnum > 0)});
	is($unknown, '', "$what: $id evidence is keyed by columns of its source views (or, for rows of a view, its name)");
}

# ---- (a) expensive forks ---------------------------------------------------

my $fat = pps_node('fatfork',
	shared_preload_libraries => "'pps_test_fatfork, pg_postmaster_stats'",
	'pps_test_fatfork.size_mb' => $fat_mb,
	'pps_test_fatfork.hugepage' => 'off',
	# fork times (off by default) decide the remedy below
	'pg_postmaster_stats.ebpf_syscalls' => 'on');
my $pm = $fat->safe_psql('postgres', 'SELECT postmaster_pid FROM pg_postmaster_stats');
my ($vmpte) = (slurp_file("/proc/$pm/status") =~ /^VmPTE:\s+(\d+) kB/m);
cmp_ok($vmpte, '>=', $fat_mb * 2 * 0.9,
	"the fixture's $fat_mb MiB give the postmaster page tables of about $fat_mb * 2 kB ($vmpte kB)");
wait_samples($fat, 2);

my $t0 = now_ts($fat);
$fat->command_ok(
	[ 'pgbench', '-n', '-C', '-c', '4', '-j', '2', '-T', '10', '-f', $select1, 'postgres' ],
	'pgbench -C -c 4 against the postmaster with expensive forks');
my $t1 = now_ts($fat);
wait_samples($fat, 1);
note_history($fat, $t0, now_ts($fat));
# what the postmaster did on its CPU, from the system call number in the
# registers of each 99 Hz sample that found it there: copying page tables
# in fork, above all
my ($fork_pct, $accept_pct) = split /\|/, $fat->safe_psql('postgres', qq{
	SELECT round(avg(postmaster_oncpu_fork_pct)), round(avg(postmaster_oncpu_accept_pct))
	  FROM pg_postmaster_stats_history
	 WHERE time > '$t0' AND time <= '$t1' AND postmaster_oncpu_fork_pct IS NOT NULL});
cmp_ok($fork_pct // 0, '>', 50,
	"expensive forks: most of the postmaster's on-CPU samples are in fork ($fork_pct%, accept $accept_pct%)");
my $rows = diagnose($fat, $t0);
my $sat = finding($rows, 'postmaster_saturated');
ok($sat, 'expensive forks: postmaster_saturated');
SKIP:
{
	skip 'no postmaster_saturated row', 12 unless $sat;
	cmp_ok($rank{ $sat->{severity} }, '>', 0, "postmaster_saturated is above info ($sat->{severity})");
	# the documented rule: huge pages in the remedy exactly when a fork took
	# fork_slow_seconds or more (eBPF), else when the page tables reached
	# pagetable_big_bytes
	my %thr = map { split /\|/ } split /\n/, $fat->safe_psql('postgres', q{
		SELECT threshold, value FROM pg_postmaster_stats_diagnosis_rules
		 WHERE finding = 'postmaster_saturated' AND threshold IS NOT NULL});
	my $pte = $sat->{evidence}{postmaster_pagetable_bytes};
	my $fork = $sat->{evidence}{fork_avg_seconds};
	# the estimate from the on-CPU samples (all that ebpf_syscalls = off
	# leaves) is the CPU part of the measured clone() time: not above it by
	# more than sampling noise, and a large part of it (copying page tables
	# is CPU work; the postmaster shares 2 CPUs with the backends and
	# pgbench, so it also waits for a CPU inside clone())
	my $est = $sat->{evidence}{fork_cpu_avg_seconds};
	ok(defined $fork && defined $est, 'the evidence has the measured fork time and the estimate')
	  or diag(explain($sat->{evidence}));
	cmp_ok($est // 0, '>=', 0.25 * ($fork // 1),
		"fork_cpu_avg_seconds ($est s) is most of fork_avg_seconds (" . ($fork // 'undef') . ' s)');
	cmp_ok($est // 1e9, '<=', 1.25 * ($fork // 0), 'and not above it beyond sampling noise');
	my $want = defined $fork ? $fork >= $thr{fork_slow_seconds} : $pte >= $thr{pagetable_big_bytes};
	is($sat->{remedy} =~ /huge page/i ? 1 : 0, $want ? 1 : 0,
		'the remedy names huge pages exactly as the rule says (fork '
		  . ($fork // 'unknown') . " s, page tables $pte bytes)");
	like($sat->{remedy}, qr/huge page/i,
		'its remedy names huge pages (each fork copies megabytes of page tables)');
	check_finding($fat, $sat, $t0, $t1, 'expensive forks');
}
# not postmaster_cpu_starved (the postmaster mostly runs, it does not wait),
# nor slow_authentication (the time is in the postmaster).  connection_churn
# depends on whether this machine's rate (20 to 50 connections/s) reaches
# the rule's churn_per_s: not checked here.
is(findings_of($rows, 'connection_churn'), 'postmaster_saturated',
	'expensive forks: exactly postmaster_saturated above info (accept_backlog and connection_churn aside)');
like($fat->safe_psql('postgres', q{SELECT string_agg(finding, ',') FROM pg_postmaster_stats_diagnosis}),
	qr/\bpostmaster_saturated\b/, 'the view (the last minute) has postmaster_saturated too');
$fat->stop;

# ---- (c) healthy: idle, pgbench -S, pgbench -C at a low rate -----------------

my $node = pps_node('plain', max_connections => 20);
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', 'postgres' ], 'pgbench -i');
wait_samples($node, 3);

$t0 = now_ts($node);
sleep 10;
is(join(',', map { "$_->{finding}/$_->{severity}" } above_info(diagnose($node, $t0))),
	'', 'idle server: no finding above info');

$t0 = now_ts($node);
$node->command_ok([ 'pgbench', '-n', '-S', '-c', '2', '-j', '2', '-T', '10', 'postgres' ],
	'pgbench -S -c 2');
wait_samples($node, 1);
is(join(',', map { "$_->{finding}/$_->{severity}" } above_info(diagnose($node, $t0))),
	'', 'pgbench -S: no finding above info');

$t0 = now_ts($node);
$node->command_ok(
	[ 'pgbench', '-n', '-C', '--rate', '5', '-c', '1', '-T', '10', '-f', $select1, 'postgres' ],
	'pgbench -C --rate 5');
wait_samples($node, 1);
note_history($node, $t0, now_ts($node));
is(join(',', map { "$_->{finding}/$_->{severity}" } above_info(diagnose($node, $t0))),
	'', 'pgbench -C at 5 connections/s: no finding above info');

# ---- (b) the postmaster starved of CPU -----------------------------------------

# The postmaster and a busy loop share CPU 0 (its children, the backends,
# inherit the affinity); pgbench's 4 threads run on both CPUs.  With 8
# clients the postmaster then waits for a CPU about 75 % of the time and
# runs 8 %.  (With pgbench kept off CPU 0, or with 2 threads, the clients
# come slower and its wait stays near 50 %.)
$pm = $node->safe_psql('postgres', 'SELECT postmaster_pid FROM pg_postmaster_stats');
my $pinned = system('taskset', '-p', '-c', '0', $pm) == 0;
ok($pinned, 'taskset pins the postmaster to CPU 0');
my $burner = fork();
die "fork: $!" unless defined $burner;
exec('taskset', '-c', '0', 'perl', '-e', 'my $t = time + 40; 1 while time < $t')
  if $burner == 0;
sleep 2;
$t0 = now_ts($node);
$node->command_ok(
	[ 'pgbench', '-n', '-C', '-c', '8', '-j', '4', '-T', '10', '-f', $select1, 'postgres' ],
	'pgbench -C -c 8 with the postmaster sharing CPU 0 with a busy loop');
$t1 = now_ts($node);
wait_samples($node, 1);
kill 'KILL', $burner;
waitpid($burner, 0);
note_history($node, $t0, now_ts($node));
$rows = diagnose($node, $t0);
my $starved = finding($rows, 'postmaster_cpu_starved');
ok($starved, 'postmaster pinned next to a busy loop: postmaster_cpu_starved');
SKIP:
{
	skip 'no postmaster_cpu_starved row', 7 unless $starved;
	cmp_ok($rank{ $starved->{severity} }, '>', 0,
		"postmaster_cpu_starved is above info ($starved->{severity})");
	check_finding($node, $starved, $t0, $t1, 'starved');
}
is(findings_of($rows), 'connection_churn,postmaster_cpu_starved',
	'starved: exactly postmaster_cpu_starved and connection_churn above info (accept_backlog aside), not postmaster_saturated');

$node->stop;
done_testing();
