# Checks a diagnosis against the history it was computed from: the rules of
# docs/diagnosis.md recomputed here, from the rows of
# pg_postmaster_stats_history, independently of src/pps_sql_diagnosis*.c.
package PpsDiag;

use strict;
use warnings;

use JSON::PP;
use Test::More;
use PpsTest;
use Exporter 'import';

our @EXPORT = qw(diag_check diag_mark diag_history_table samples_pass);

# Waits until $n samples are taken after now: a case's window then starts
# quiet, and ends after its condition has stopped.
sub samples_pass
{
	my ($session, $n) = @_;
	my $t = $session->query_safe('SELECT clock_timestamp()');
	poll_session($session, qq{SELECT count(*) >= $n FROM pg_postmaster_stats_history WHERE time > '$t'}, 't');
}

# The time to start a case's window from: a clock reading after which
# nothing of the previous case holds any more (the caller waits for that).
sub diag_mark
{
	my ($session) = @_;
	return $session->query_safe('SELECT clock_timestamp()');
}

sub num { my ($v) = @_; return defined $v ? 0 + $v : undef; }

# Per finding: does it hold in history row $r?  $c holds the thresholds and
# the baselines of the whole history.
my %rule = (
	postmaster_saturated => sub {
		my ($r, $c) = @_;
		return 0 unless $r->{_rates} && defined $r->{postmaster_cpu_pct};
		my $busy = $r->{postmaster_cpu_pct} + $r->{postmaster_cpu_wait_pct};
		return $busy >= $c->{busy_pct}
		  && $r->{postmaster_cpu_pct} >= $r->{postmaster_cpu_wait_pct}
		  && pm_has_work($r);
	},
	postmaster_cpu_starved => sub {
		my ($r, $c) = @_;
		return 0 unless $r->{_rates} && defined $r->{postmaster_cpu_pct};
		return $r->{postmaster_cpu_wait_pct} >= $c->{starved_wait_pct}
		  && $r->{postmaster_cpu_wait_pct} > $r->{postmaster_cpu_pct}
		  && pm_has_work($r);
	},
	listen_overflow => sub {
		my ($r) = @_;
		return $r->{_rates} && defined $r->{listen_drops_per_s} && $r->{listen_drops_per_s} > 0;
	},
	replay_falling_behind => sub {
		my ($r, $c) = @_;
		return defined $r->{replay_state} && $r->{replay_state} eq 'falling_behind'
		  && defined $r->{replay_headroom} && $r->{replay_headroom} < $c->{replay_headroom_max};
	},
	accept_backlog => sub {
		my ($r) = @_;
		return defined $r->{accept_queue_depth} && $r->{accept_queue_depth} > 0;
	},
	connection_churn => sub {
		my ($r, $c) = @_;
		return 0 unless $r->{_rates} && defined $r->{connections_per_s}
		  && $r->{connections_per_s} >= $c->{churn_per_s};
		return 1 unless defined $r->{client_backends};
		return $r->{client_backends} / $r->{connections_per_s} < $c->{churn_lifetime_s};
	},
	parallel_worker_churn => sub {
		my ($r, $c) = @_;
		my ($p, $l) = ($r->{parallel_workers_planned_per_s}, $r->{parallel_workers_launched_per_s});
		return 0 unless $r->{_rates} && defined $p && defined $l;
		return 1 if $p > $l;
		return 0 if $l < $c->{parallel_min_per_s};
		my $base = (defined $r->{forks_per_s} && $r->{forks_per_s} > 0)
		  ? $r->{forks_per_s}
		  : $l + ($r->{connections_per_s} // 0);
		return $base > 0 && $l * 100 >= $c->{parallel_share_pct} * $base;
	},
	bgworker_slots_exhausted => sub {
		my ($r, $c) = @_;
		return defined $r->{bgworker_slots_in_use}
		  && $r->{bgworker_slots_in_use} >= $c->{max_worker_processes};
	},
	slow_authentication => sub {
		my ($r, $c) = @_;
		my $p99 = $r->{connection_setup_p99_seconds};
		return 0 unless $r->{_rates} && defined $p99 && $p99 * 1000 >= $c->{setup_ms};
		return 1 unless defined $r->{postmaster_cpu_pct};
		return $r->{postmaster_cpu_pct} + $r->{postmaster_cpu_wait_pct} < $c->{idle_busy_pct};
	},
	snapshot_cost_high => sub {
		my ($r, $c) = @_;
		return 0 unless defined $r->{snapshot_ns} && defined $c->{snap_base_ns} && $c->{snap_base_procs} > 0;
		return $r->{snapshot_ns} >= $c->{snapshot_factor} * $c->{snap_base_ns}
		  && $r->{snapshot_ns} >= $c->{snapshot_floor_ns}
		  && $r->{snapshot_procs} >= $c->{snapshot_procs_factor} * $c->{snap_base_procs};
	},
	subtransaction_overflow => sub {
		my ($r) = @_;
		return defined $r->{snapshot_suboverflowed} && $r->{snapshot_suboverflowed};
	},
	replay_paused => sub {
		my ($r) = @_;
		return defined $r->{replay_state} && $r->{replay_state} eq 'paused';
	},
	limit_near => sub {
		my ($r, $c) = @_;
		return defined $r->{limits_min_headroom_pct} && defined $r->{limits_min_name}
		  && $r->{limits_min_headroom_pct} < $c->{headroom_pct};
	},);

sub pm_has_work
{
	my ($r) = @_;
	return ($r->{_rates} && ($r->{connections_per_s} // 0) > 0)
	  || (($r->{accept_queue_depth} // 0) > 0)
	  || ($r->{_rates} && ($r->{forks_per_s} // 0) > 0);
}

# One statement reads the diagnosis over the window from $mark and the whole
# history, so both see the same samples but for one that may arrive between
# the two reads (the caller waits until the case's findings no longer hold,
# so such a sample cannot change them).
sub read_both
{
	my ($session, $mark) = @_;
	my $json = $session->query_safe(qq{
		SELECT json_build_object(
		  'diag', (SELECT coalesce(json_agg(d), '[]') FROM pg_postmaster_stats_diagnose(clock_timestamp() - '$mark'::timestamptz) d),
		  'hist', (SELECT json_agg(to_jsonb(h) || jsonb_build_object('_epoch', extract(epoch FROM h.time)) ORDER BY h.time)
		           FROM pg_postmaster_stats_history h),
		  'rules', (SELECT json_object_agg(threshold, value) FROM pg_postmaster_stats_diagnosis_rules WHERE threshold IS NOT NULL),
		  'min', (SELECT json_object_agg(finding, min_samples) FROM pg_postmaster_stats_diagnosis_rules),
		  'mwp', current_setting('max_worker_processes')::int)});
	return decode_json($json);
}

# Recomputes every finding (but source_inactive, whose sources the history
# does not show) over the rows from $mark: held samples, and since.
sub recompute
{
	my ($d, $mark_epoch) = @_;
	my %c = (%{ $d->{rules} }, max_worker_processes => $d->{mwp});
	my @h = @{ $d->{hist} };
	for my $r (@h)
	{
		$r->{_rates} = defined $r->{interval_seconds};
		# json booleans to perl
		$r->{snapshot_suboverflowed} = $r->{snapshot_suboverflowed} ? 1 : 0
		  if defined $r->{snapshot_suboverflowed};
	}
	# the history's lowest snapshot cost (first of equals) and its proc count
	for my $r (@h)
	{
		next unless defined $r->{snapshot_ns} && $r->{snapshot_ns} > 0;
		if (!defined $c{snap_base_ns} || $r->{snapshot_ns} < $c{snap_base_ns})
		{
			$c{snap_base_ns}    = $r->{snapshot_ns};
			$c{snap_base_procs} = $r->{snapshot_procs};
		}
	}
	my %out;
	for my $f (sort keys %rule)
	{
		my @held = map { $rule{$f}->($_, \%c) ? 1 : 0 } @h;
		my ($samples, $run, $longest, $since) = (0, 0, 0, undef);
		my $first;
		for my $i (0 .. $#h)
		{
			next if $h[$i]{_epoch} < $mark_epoch;
			$first //= $i;
			if (!$held[$i]) { $run = 0; next; }
			$since = $i if $run == 0;
			$run++;
			$longest = $run if $run > $longest;
			$samples++;
		}
		next if $longest < $d->{min}{$f};
		if ($since == $first)
		{
			$since-- while $since > 0 && $held[ $since - 1 ];
		}
		$out{$f} = { samples => $samples, since => $h[$since]{time}, longest => $longest };
	}
	return (\%out, \%c);
}

# A table of the history rows from $mark, with the columns named, for the
# test's log (the figures behind each verdict).
sub diag_history_table
{
	my ($session, $mark, @cols) = @_;
	my $list = join(', ', map { qq{"$_"} } 'time', @cols);
	return $session->query_safe(qq{SELECT $list FROM pg_postmaster_stats_history WHERE time >= '$mark' ORDER BY time});
}

# The check: the diagnosis over the window from $mark holds exactly the
# findings @$expected (plus source_inactive when $inactive_ok), and each
# finding's samples and since are those recomputed from the history.
sub diag_check
{
	my ($session, $mark, $expected, $label, %opt) = @_;
	my $d = read_both($session, $mark);
	my $mark_epoch = $session->query_safe(qq{SELECT extract(epoch FROM '$mark'::timestamptz)});
	my ($want, $c) = recompute($d, $mark_epoch);

	my %got = map { $_->{finding} => $_ } @{ $d->{diag} };
	my @got = sort grep { !($opt{inactive_ok} && $_ eq 'source_inactive') } keys %got;
	is_deeply(\@got, [ sort @$expected ], "$label: exactly the findings " . join(', ', sort @$expected))
	  or diag(explain($d->{diag}));
	my @recomputed = sort keys %$want;
	is_deeply(\@recomputed, [ sort @$expected ],
		"$label: the rules recomputed from the history give the same findings")
	  or diag(explain($want));
	for my $f (@$expected)
	{
		next unless $got{$f} && $want->{$f};
		is($got{$f}{samples}, $want->{$f}{samples},
			"$label: $f held in $want->{$f}{samples} samples of the history");
		is($got{$f}{since}, $want->{$f}{since}, "$label: $f since $want->{$f}{since}");
		note("$label: $f: $got{$f}{summary}; evidence " . encode_json($got{$f}{evidence}));
	}
	note("$label: snapshot baseline $c->{snap_base_ns} ns at $c->{snap_base_procs} procs")
	  if defined $c->{snap_base_ns};
	return \%got;
}

1;
