# The diagnosis of connection workloads, driven for real: an idle server and
# light pgbench runs give nothing above info; a stopped postmaster with
# clients waiting gives accept_backlog; clients that send their startup
# packet late give slow_authentication; a pgbench -C storm gives
# connection_churn; a filled max_connections gives limit_near.  Every
# finding's "samples" and "since" are recomputed from the history rows the
# diagnosis read, with the documented rules, and must match exactly; so must
# the set of findings those rules predict.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use IO::Socket::INET;
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PpsTest;
use Test::More;
use Time::HiRes qw(usleep time);

my $interval_ms = 500;
my $node = pps_node('diagconn',
	listen_addresses => "'127.0.0.1'",
	max_connections => 20,
	superuser_reserved_connections => 3,
	'pg_postmaster_stats.sample_interval' => "'${interval_ms}ms'");
my $port = $node->port;

# Readings go through one session opened first: it stays usable while the
# postmaster is stopped and it opens no connection of its own.
my $s = $node->background_psql('postgres');
my $pm_pid = $s->query_safe('SELECT postmaster_pid FROM pg_postmaster_stats');
my @children;
END
{
	kill 'CONT', $pm_pid if $pm_pid;
	kill 'TERM', $_ for @children;
}

# eBPF is one source the findings read; without it (and without
# PPS_REQUIRE_BPF) the only finding allowed besides the expected ones is
# source_inactive naming it.
my $bpf = poll_session($s,
	q{SELECT active FROM pg_postmaster_stats_sources WHERE source = 'ebpf'}, 't', 30) eq 't';
fail('the eBPF source is active (PPS_REQUIRE_BPF is set)') if !$bpf && $ENV{PPS_REQUIRE_BPF};
is(poll_session($s, q{SELECT count(*) FROM pg_postmaster_stats_sources
	WHERE NOT active AND source NOT IN ('ebpf', 'replay')}, '0'),
	'0', 'every source the diagnosis reads is active (eBPF aside)');

# The rules' thresholds and minimum runs, as the server uses them.
my (%thr, %min_run);
for my $l (split /\n/, $s->query_safe(
	q{SELECT finding, min_samples, coalesce(threshold, ''), coalesce(value::text, '')
	  FROM pg_postmaster_stats_diagnosis_rules}))
{
	my ($f, $m, $t, $v) = split /\|/, $l, -1;
	$min_run{$f} = $m;
	$thr{$t} = $v if $t ne '';
}
my $max_worker_processes = $s->query_safe('SHOW max_worker_processes');

# ---- the documented rules, on the history's columns ----

my @cols = qw(time interval_seconds postmaster_cpu_pct postmaster_cpu_wait_pct
  postmaster_rss_bytes accept_queue_depth accept_queue_max listen_drops_per_s
  connections_per_s connection_setup_p99_seconds client_backends
  bgworker_slots_in_use parallel_workers_planned_per_s
  parallel_workers_launched_per_s snapshot_ns snapshot_procs
  snapshot_suboverflowed limits_min_headroom_pct limits_min_name forks_per_s
  zombies);

sub num_ge { defined $_[0] && defined $_[1] && $_[0] >= $_[1] }
sub num_gt { defined $_[0] && defined $_[1] && $_[0] > $_[1] }
sub num_lt { defined $_[0] && defined $_[1] && $_[0] < $_[1] }

sub busy
{
	my ($r) = @_;
	return undef unless defined $r->{postmaster_cpu_pct} && defined $r->{postmaster_cpu_wait_pct};
	return $r->{postmaster_cpu_pct} + $r->{postmaster_cpu_wait_pct};
}

# Validity of each source: a column that is never NULL when the source
# answered (NULL also stands for NaN in the float columns).
sub rates { defined $_[0]->{interval_seconds} }
sub pm_ok { defined $_[0]->{postmaster_rss_bytes} }
sub acc_ok { defined $_[0]->{accept_queue_max} }
sub ch_ok { defined $_[0]->{client_backends} }
sub bgw_ok { defined $_[0]->{bgworker_slots_in_use} }
sub par_ok { defined $_[0]->{parallel_workers_planned_per_s} }
sub snap_ok { defined $_[0]->{snapshot_procs} }
sub lim_ok { defined $_[0]->{limits_min_name} }
sub bpf_ok { defined $_[0]->{zombies} }

sub has_work
{
	my ($r) = @_;
	return (rates($r) && num_gt($r->{connections_per_s}, 0))
	  || (acc_ok($r) && num_gt($r->{accept_queue_depth}, 0))
	  || (rates($r) && bpf_ok($r) && num_gt($r->{forks_per_s}, 0));
}

my %rule = (
	postmaster_saturated => sub {
		my ($r) = @_;
		rates($r) && pm_ok($r) && num_ge(busy($r), $thr{busy_pct})
		  && num_ge($r->{postmaster_cpu_pct}, $r->{postmaster_cpu_wait_pct}) && has_work($r);
	},
	postmaster_cpu_starved => sub {
		my ($r) = @_;
		rates($r) && pm_ok($r) && num_ge($r->{postmaster_cpu_wait_pct}, $thr{starved_wait_pct})
		  && num_gt($r->{postmaster_cpu_wait_pct}, $r->{postmaster_cpu_pct}) && has_work($r);
	},
	listen_overflow => sub {
		my ($r) = @_;
		rates($r) && acc_ok($r) && num_gt($r->{listen_drops_per_s}, 0);
	},
	accept_backlog => sub {
		my ($r) = @_;
		acc_ok($r) && num_gt($r->{accept_queue_depth}, 0);
	},
	connection_churn => sub {
		my ($r) = @_;
		return 0 unless rates($r) && num_ge($r->{connections_per_s}, $thr{churn_per_s});
		return 1 unless ch_ok($r);
		return $r->{client_backends} / $r->{connections_per_s} < $thr{churn_lifetime_s};
	},
	parallel_worker_churn => sub {
		my ($r) = @_;
		return 0 unless rates($r) && par_ok($r);
		my ($planned, $launched) =
		  ($r->{parallel_workers_planned_per_s}, $r->{parallel_workers_launched_per_s});
		return 1 if num_gt($planned, $launched);
		return 0 unless num_ge($launched, $thr{parallel_min_per_s});
		my $base =
		  bpf_ok($r) && num_gt($r->{forks_per_s}, 0)
		  ? $r->{forks_per_s}
		  : $launched + ($r->{connections_per_s} // 0);
		return $base > 0 && $launched * 100 >= $thr{parallel_share_pct} * $base;
	},
	bgworker_slots_exhausted => sub {
		my ($r) = @_;
		bgw_ok($r) && $r->{bgworker_slots_in_use} >= $max_worker_processes;
	},
	slow_authentication => sub {
		my ($r) = @_;
		return 0 unless rates($r) && defined $r->{connection_setup_p99_seconds}
		  && $r->{connection_setup_p99_seconds} * 1000 >= $thr{setup_ms};
		return !pm_ok($r) || num_lt(busy($r), $thr{idle_busy_pct});
	},
	snapshot_cost_high => sub {
		my ($r, $base) = @_;
		return 0 unless snap_ok($r) && defined $r->{snapshot_ns} && defined $base;
		return $r->{snapshot_ns} >= $thr{snapshot_factor} * $base->{snapshot_ns}
		  && $r->{snapshot_ns} >= $thr{snapshot_floor_ns}
		  && $r->{snapshot_procs} >= $thr{snapshot_procs_factor} * $base->{snapshot_procs};
	},
	subtransaction_overflow => sub {
		my ($r) = @_;
		snap_ok($r) && ($r->{snapshot_suboverflowed} // '') eq 't';
	},
	limit_near => sub {
		my ($r) = @_;
		lim_ok($r) && num_lt($r->{limits_min_headroom_pct}, $thr{headroom_pct});
	},
	source_inactive => sub {
		my ($r) = @_;
		!(pm_ok($r) && acc_ok($r) && bgw_ok($r) && par_ok($r) && snap_ok($r)
			&& defined $r->{limits_min_headroom_pct} && bpf_ok($r));
	},);

# The whole history, oldest first, as hashes of the columns above.
sub history
{
	my $out = $s->query_safe(
		'SELECT ' . join(', ', map { qq{"$_"} } @cols)
		  . ' FROM pg_postmaster_stats_history ORDER BY time');
	my @rows;
	for my $l (split /\n/, $out)
	{
		my @v = split /\|/, $l, -1;
		my %r;
		@r{@cols} = map { $_ eq '' ? undef : $_ } @v;
		push @rows, \%r;
	}
	return \@rows;
}

sub latest_sample
{
	return $s->query_safe('SELECT max(time) FROM pg_postmaster_stats_history');
}

# Wait until $n more samples have been taken.
sub wait_samples
{
	my ($n) = @_;
	my $start = $s->query_safe('SELECT samples_total FROM pg_postmaster_stats');
	my $want = $start + $n;
	poll_session($s, "SELECT samples_total >= $want FROM pg_postmaster_stats", 't');
}

# The diagnosis of the samples taken after $t0 (a sample's time), and the
# history it read: retried until no sample was written in between, so both
# are the same rows.
sub diagnose
{
	my ($t0) = @_;
	my $half = $interval_ms / 2;
	for (1 .. 20)
	{
		my $n1 = $s->query_safe('SELECT samples_total FROM pg_postmaster_stats');
		# a first row, so the output is never empty (an empty result
		# confuses the BackgroundPsql of some minor versions)
		my $d = $s->query_safe(
			qq{SELECT 'findings:'
			   UNION ALL
			   SELECT concat_ws('|', finding, severity, since, samples, summary, evidence, remedy)
			   FROM pg_postmaster_stats_diagnose(clock_timestamp() - '$t0'::timestamptz
			                                     - interval '$half ms')});
		my $h = history();
		my $n2 = $s->query_safe('SELECT samples_total FROM pg_postmaster_stats');
		next if $n1 != $n2;
		my %f;
		for my $l (grep { $_ ne 'findings:' } split /\n/, $d)
		{
			my %row;
			@row{qw(finding severity since samples summary evidence remedy)} = split /\|/, $l, -1;
			$f{ $row{finding} } = \%row;
		}
		return (\%f, $h);
	}
	die 'a sample was written during every attempt to diagnose';
}

# What the rules predict over the history rows after $t0: finding =>
# { samples, since, longest }, for the findings whose longest run reaches
# min_samples.
sub predict
{
	my ($t0, $h) = @_;
	my $first = 0;
	$first++ while $first < @$h && $h->[$first]{time} le $t0;
	my $base;
	for my $r (@$h)
	{
		next unless snap_ok($r) && defined $r->{snapshot_ns} && $r->{snapshot_ns} > 0;
		$base = $r if !defined $base || $r->{snapshot_ns} < $base->{snapshot_ns};
	}
	my %p;
	for my $f (sort keys %rule)
	{
		my ($run, $longest, $n, $since) = (0, 0, 0, undef);
		for my $i ($first .. $#$h)
		{
			if (!$rule{$f}->($h->[$i], $base)) { $run = 0; next; }
			$since = $i if $run == 0;
			$run++;
			$n++;
			$longest = $run if $run > $longest;
		}
		next if $longest < $min_run{$f};
		if ($since == $first)
		{
			$since-- while $since > 0 && $rule{$f}->($h->[ $since - 1 ], $base);
		}
		$p{$f} = { samples => $n, since => $h->[$since]{time}, longest => $longest };
	}
	return \%p;
}

# Per-sample figures of a phase, for the log.
sub note_history
{
	my ($t0, $h) = @_;
	for my $r (grep { $_->{time} gt $t0 } @$h)
	{
		note(join ' ', map { "$_=" . ($r->{$_} // 'NULL') }
			qw(time postmaster_cpu_pct postmaster_cpu_wait_pct accept_queue_depth
			  connections_per_s connection_setup_p99_seconds client_backends
			  limits_min_headroom_pct limits_min_name forks_per_s));
	}
}

# Checks one phase: the findings are exactly @$want plus any of @$allow
# (and source_inactive naming only eBPF when eBPF is legitimately off), the
# rules recomputed on the history predict exactly that set, and each
# finding's samples and since are the recomputed ones.
sub check_phase
{
	my ($name, $t0, $want, $allow) = @_;
	$allow //= [];
	my ($f, $h) = diagnose($t0);
	my $p = predict($t0, $h);
	note_history($t0, $h);
	note("$name: $_ severity=$f->{$_}{severity} samples=$f->{$_}{samples} since=$f->{$_}{since}: "
		  . "$f->{$_}{summary} | $f->{$_}{evidence} | $f->{$_}{remedy}")
	  for sort keys %$f;

	my %got = map { $_ => 1 } keys %$f;
	if (!$bpf && $got{source_inactive})
	{
		like($f->{source_inactive}{summary}, qr/^ebpf is inactive[^;]*$/,
			"$name: source_inactive names only the eBPF source, which is off here");
		delete $got{source_inactive};
		delete $p->{source_inactive};
	}
	my %allowed = map { $_ => 1 } @$allow;
	my @must = sort @$want;
	is(join(',', grep { $got{$_} } @must), join(',', @must), "$name: findings @must are reported");
	my %must = map { $_ => 1 } @must;
	is(join(',', sort grep { !$must{$_} && !$allowed{$_} } keys %got),
		'', "$name: no other finding" . (@$allow ? " than the accepted @$allow" : ''));
	is(join(',', sort keys %got), join(',', sort keys %$p),
		"$name: the rules recomputed on the history predict the same findings");
	for my $k (sort keys %got)
	{
		next unless $p->{$k};
		is("$f->{$k}{samples} $f->{$k}{since}", "$p->{$k}{samples} $p->{$k}{since}",
			"$name: $k samples and since are those of the history");
	}
	return $f;
}

# Wait until the previous phase has left the history's latest samples,
# then return the time of the latest one: the next phase starts after it.
sub phase_start
{
	wait_samples(3);
	return latest_sample();
}

# ---- idle ----
my $t0 = phase_start();
wait_samples(8);
my $f = check_phase('idle', $t0, []);

# ---- pgbench -S, a few clients, no -C ----
$node->command_ok([ 'pgbench', '-i', '-q', '-s', '1', '-h', '127.0.0.1', '-p', $port, 'postgres' ],
	'pgbench -i');
$t0 = phase_start();
$node->command_ok([ 'pgbench', '-n', '-S', '-c', '2', '-T', '5', '-h', '127.0.0.1', '-p', $port, 'postgres' ],
	'pgbench -S -c 2 -T 5');
wait_samples(2);
check_phase('pgbench -S', $t0, []);

# ---- pgbench -C at a low rate ----
$t0 = phase_start();
$node->command_ok(
	[ 'pgbench', '-n', '-S', '-C', '--rate', '5', '-c', '2', '-T', '6', '-h', '127.0.0.1', '-p', $port, 'postgres' ],
	'pgbench -C --rate 5 -T 6');
wait_samples(2);
check_phase('pgbench -C --rate 5', $t0, []);

# ---- the postmaster stopped while clients connect ----
$t0 = phase_start();
my $M = 8;
my @clients;
kill 'STOP', $pm_pid or die "could not stop the postmaster: $!";
for (1 .. $M)
{
	my ($out, $err) = ('', '');
	push @clients,
	  IPC::Run::start(
		[ 'psql', '-X', '-At', '-h', '127.0.0.1', '-p', $port, '-d', 'postgres', '-c', 'SELECT 1' ],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}
is(poll_session($s, 'SELECT accept_queue_depth FROM pg_postmaster_stats', "$M"),
	"$M", "with the postmaster stopped, $M connections are queued");
wait_samples(4);
kill 'CONT', $pm_pid;
$pm_pid = undef;
$_->finish for @clients;
is(scalar(grep { $_->result == 0 } @clients), $M, 'every queued client got in after SIGCONT');
$pm_pid = $s->query_safe('SELECT postmaster_pid FROM pg_postmaster_stats');
wait_samples(2);
$f = check_phase('postmaster stopped', $t0, ['accept_backlog']);
like($f->{accept_backlog}{evidence} // '', qr/"accept_queue_depth": $M\b/,
	"accept_backlog: the evidence has the peak of $M queued connections");
like($f->{accept_backlog}{remedy} // '', qr/stopped or blocked/,
	'accept_backlog: the postmaster was not busy, so the remedy says to look whether it is stopped');

# ---- clients that send their startup packet 300 ms after connecting ----
my $user = $s->query_safe('SELECT current_user');

# One client: connect, wait, send a protocol 3.0 startup packet, read up
# to ReadyForQuery, terminate.
sub slow_client
{
	my ($delay_s) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
	  or die "connect: $!";
	Time::HiRes::sleep($delay_s);
	my $body = pack('N', 196608) . "user\0$user\0database\0postgres\0\0";
	print $sock pack('N', 4 + length $body) . $body;
	my $buf = '';
	while ($buf !~ /Z\0\0\0\x05I$/)
	{
		my $got = sysread($sock, $buf, 4096, length $buf);
		die "startup: connection closed: $buf" unless $got;
	}
	print $sock 'X' . pack('N', 4);
	close $sock;
}

$t0 = phase_start();
my $slow_until = time() + 6;
for (1 .. 3)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $n = 0;
		while (time() < $slow_until) { slow_client(0.3); $n++; }
		POSIX::_exit($n > 0 ? 0 : 1);
	}
	push @children, $pid;
}
my $slow_ok = 0;
for my $pid (@children)
{
	waitpid($pid, 0);
	$slow_ok++ if $? == 0;
}
@children = ();
is($slow_ok, 3, 'three clients connected repeatedly with a 300 ms late startup packet');
wait_samples(2);
$f = check_phase('late startup packets', $t0, ['slow_authentication']);
like($f->{slow_authentication}{evidence} // '', qr/"connection_setup_p99_seconds": 0\.[3-9]/,
	'slow_authentication: p99 setup at least 300 ms in the evidence');

# ---- an unbounded pgbench -C storm ----
$t0 = phase_start();
$node->command_ok([ 'pgbench', '-n', '-S', '-C', '-c', '4', '-T', '8', '-h', '127.0.0.1', '-p', $port, 'postgres' ],
	'pgbench -C -c 4 -S -T 8');
wait_samples(2);
$f = check_phase('pgbench -C storm', $t0, ['connection_churn'],
	[ 'postmaster_saturated', 'postmaster_cpu_starved', 'accept_backlog' ]);
like($f->{connection_churn}{remedy} // '', qr/default_pool_size about \d+/,
	'connection_churn: the remedy sizes a pool');
SKIP:
{
	skip 'no accept_backlog in this storm', 1 unless $f->{accept_backlog};
	unlike($f->{accept_backlog}{remedy}, qr/stopped or blocked/,
		'accept_backlog in a storm: a postmaster accepting all along is not called stopped or blocked');
}

# ---- max_connections filled ----
$t0 = phase_start();
my $limit = 20 - 3;
my @held;
push @held, $node->background_psql('postgres') for 2 .. $limit;
is(poll_session($s, q{SELECT current || '/' || maximum FROM pg_postmaster_stats_limits
	WHERE limit_name = 'client_connections'}, "$limit/$limit"),
	"$limit/$limit", "client_connections filled: $limit of $limit");
wait_samples(3);
$f = check_phase('max_connections filled', $t0, ['limit_near']);
like($f->{limit_near}{summary} // '', qr/^client_connections: headroom down to 0\.0% \(now $limit of $limit connections used\)/,
	'limit_near: the summary names client_connections and its figures');
like($f->{limit_near}{evidence} // '', qr/"limits_min_name": "client_connections"/,
	'limit_near: the evidence names client_connections');
like($f->{limit_near}{remedy} // '', qr/max_connections/, 'limit_near: the remedy names max_connections');
$_->quit for @held;

$s->quit;
$node->stop;
done_testing();
