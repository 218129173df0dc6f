#!/usr/bin/env bash
#
# replay_backlog.sh - a standby whose replay falls behind: does the replay
# view report the backlog, the replay rate and the headroom correctly?
# (issue 9, scenario 5; the Cybertec article, shared/reference/001_*)
#
# A primary and a streaming standby (Unix sockets).  As in
# test/bench/bench_replay.sh, replay is paused while pgbench writes on the
# primary for REPLAY_SECONDS, so a backlog builds up, then resumed and the
# catch-up timed.  Ours (the standby's pg_postmaster_stats_replay and
# history): state, replay_lag_bytes, replay_lag_seconds, the replay rate
# and startup_cpu_pct during the catch-up, the capacity (rate per core),
# catchup_seconds; then, under a steady write load with replay running,
# replay_headroom.  Independently: the server's own LSN functions on the
# standby (received minus replayed, read in the same instant after a
# sample) and on the primary (pg_stat_replication), the catch-up rate this
# script measures by polling pg_last_wal_replay_lsn(), the startup
# process's CPU from /proc/<pid>/schedstat over the catch-up, and the WAL
# rate of the primary from pg_current_wal_lsn() over the steady window.
#
# On a 2-vCPU machine the primary's backends and pgbench generate far less
# WAL than one core can replay, so the article's wall (headroom below 1)
# is not reached here: the verdict reports the headroom measured.
#
# Usage (as root): test/scenarios/replay_backlog.sh
# Environment (defaults; QUICK=1 in brackets):
#   REPLAY_SECONDS [30] [10]   seconds of writes while replay is paused
#   STEADY_SECONDS [15] [8]    seconds of writes with replay running
#   REPLAY_SCALE [10] [5]      pgbench scale
#   REPLAY_CLIENTS [4]
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob REPLAY_SECONDS 10 30
knob STEADY_SECONDS 8 15
knob REPLAY_SCALE 5 10
SCALE=$REPLAY_SCALE		# pgbench_init's name for it
REPLAY_CLIENTS=${REPLAY_CLIENTS:-4}
MAX_CONNECTIONS=50

scen_start replay_backlog pg_basebackup
PPORT=$(pick_port "$SCEN_BASE_PORT")
SPORT=$(pick_port $((PPORT + 1)) "$PPORT")
scen_cluster primary "$PPORT" "wal_level = replica" "max_wal_senders = 4" "hot_standby = on" \
	"synchronous_commit = off" "autovacuum = off" "max_wal_size = 4GB" "checkpoint_timeout = 30min"
pgbench_init "$PPORT"
log "standby: pg_basebackup from port $PPORT, port $SPORT"
as_pg "$PGBIN/pg_basebackup" -h "$WORK" -p "$PPORT" -U postgres -D "$WORK/standby" -R -X stream --checkpoint fast \
	>"$WORK/basebackup.log" 2>&1 || die "pg_basebackup failed, see $WORK/basebackup.log"
# The catch-up's polls (below) must neither be cancelled nor slow replay:
# replay waits for a conflicting poll (well under a millisecond) instead of
# cancelling it.  With the default 30 s the budget counts from the WAL's
# arrival, long past for a paused backlog, so every conflict would cancel
# (or, between two statements, end the session).
printf 'port = %s\nmax_standby_streaming_delay = -1\n' "$SPORT" | as_pg tee -a "$WORK/standby/postgresql.conf" >/dev/null
STARTED_DATADIRS+=("$WORK/standby")
as_pg "$PGBIN/pg_ctl" -D "$WORK/standby" -l "$WORK/standby.log" -w -t 120 start >/dev/null || die "could not start the standby"

# poll PORT SQL WANT [TIMEOUT]: until the query returns WANT
poll() {
	local deadline=$((SECONDS + ${4:-120}))
	until [[ $(q "$1" "$2" 2>/dev/null || true) == "$3" ]]; do
		((SECONDS < deadline)) || die "timeout waiting for $2 = $3"
		sleep 0.3
	done
}
# A commit that reaches the standby gives it a last replayed transaction
# (replay_lag_seconds counts from it)
q "$PPORT" "CREATE TABLE pps_scen_marker (i int)" >/dev/null
poll "$SPORT" "SELECT count(*) FROM pg_class WHERE relname = 'pps_scen_marker'" 1
poll "$SPORT" "SELECT state FROM pg_postmaster_stats_replay" caught_up

# catchup_seconds PORT TARGET: resume replay and time it until it reaches
# TARGET, polling every 10 ms over one open session.  Each poll is a
# snapshot of well under a millisecond: a poll that slept inside a
# statement would hold its snapshot while replay moves on, and the pruning
# records of the backlog would conflict with it (replay then waits or
# cancels it).  The 10 ms wait is bash's read timeout on a fifo nobody
# writes: no process per poll competing with replay for the CPUs.
catchup_seconds() {
	local port=$1 target=$2 line t0 t1 wfd
	mkfifo "$WORK/catchup.wait"
	exec {wfd}<>"$WORK/catchup.wait"
	coproc CATCHUP { exec stdbuf -oL "$PGBIN/psql" -X -q -A -t -h "$WORK" -p "$port" -U postgres -d postgres 2>&1; }
	BG_PIDS+=("$CATCHUP_PID")
	local cpid=$CATCHUP_PID
	t0=${EPOCHREALTIME/./}
	printf 'SELECT pg_wal_replay_resume();\n' >&"${CATCHUP[1]}"
	IFS= read -r -t 60 line <&"${CATCHUP[0]}" || die "no answer to pg_wal_replay_resume()"
	# a poll that fails answers with several lines, hence the end marker
	local done=0 cancelled=0
	while ((!done)); do
		printf "SELECT pg_last_wal_replay_lsn() >= '%s';\n%s\n" "$target" '\echo __end__' >&"${CATCHUP[1]}"
		while IFS= read -r -t 60 line <&"${CATCHUP[0]}"; do
			case $line in
				__end__) break ;;
				t) done=1 ;;
				ERROR:*) cancelled=$((cancelled + 1)) ;;
			esac
		done
		kill -0 "$cpid" 2>/dev/null || die "the catch-up session ended"
		((done)) || read -r -t 0.01 -u "$wfd" _ || true
	done
	((cancelled == 0)) || log "catch-up: $cancelled polls failed"
	t1=${EPOCHREALTIME/./}
	local cfd=${CATCHUP[1]}
	exec {wfd}>&- {cfd}>&-
	stop_pid "$cpid" TERM
	forget_pid "$cpid"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'
}

# --- the backlog: replay paused, writes on the primary ---------------------------------
q "$SPORT" "SELECT pg_wal_replay_pause()" >/dev/null
poll "$SPORT" "SELECT pg_get_wal_replay_pause_state()" paused
log "replay paused; pgbench on the primary for $REPLAY_SECONDS s"
"$PGBIN/pgbench" -n -c "$REPLAY_CLIENTS" -j 2 -T "$REPLAY_SECONDS" -h "$WORK" -p "$PPORT" -U postgres postgres \
	>"$WORK/write.out" 2>&1 || { cat "$WORK/write.out" >&2; die "pgbench failed"; }
target=$(q "$PPORT" "SELECT pg_current_wal_lsn()")
poll "$SPORT" "SELECT pg_last_wal_receive_lsn() >= '$target'" t
wait_samples "$SPORT" 2
# nothing moves now (receive done, replay paused): the view's sample and
# the LSN functions must give the same backlog
IFS='|' read -r o_state o_lag o_lag_s i_lag i_lag_s <<<"$(q "$SPORT" "
	SELECT r.state, r.replay_lag_bytes, round(r.replay_lag_seconds::numeric, 1),
	       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()),
	       round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 1)
	FROM pg_postmaster_stats_replay r")"
IFS='|' read -r p_lag p_lag_sr <<<"$(q "$PPORT" "
	SELECT r.replay_lag_bytes, pg_wal_lsn_diff(pg_current_wal_lsn(), s.replay_lsn)
	FROM pg_postmaster_stats_replay r JOIN pg_stat_replication s ON s.pid = r.walsender_pid")"
result "standby, paused: state $o_state, replay_lag_bytes $o_lag, replay_lag_seconds $o_lag_s; primary's standby row: replay_lag_bytes $p_lag" \
	"pg_last_wal_receive_lsn() - pg_last_wal_replay_lsn() = $i_lag, now() - pg_last_xact_replay_timestamp() = $i_lag_s s; pg_stat_replication: $p_lag_sr" \
	"$([[ $o_lag == "${i_lag%.*}" && $p_lag == "${p_lag_sr%.*}" ]] && echo "backlog identical on both servers" || echo "backlog DIFFERS ($(reldiff "$o_lag" "$i_lag") %, primary $(reldiff "$p_lag" "$p_lag_sr") %)")"

# --- the catch-up ------------------------------------------------------------------------
spid=$(q "$SPORT" "SELECT startup_pid FROM pg_postmaster_stats_replay")
l0=$(q "$SPORT" "SELECT pg_last_wal_replay_lsn()")
bytes=$(q "$SPORT" "SELECT pg_wal_lsn_diff('$target', '$l0')")
t0=$(now_ts)
s0=$(pm_snap "$spid")
secs=$(catchup_seconds "$SPORT" "$target")
s1=$(pm_snap "$spid")
read -r s_cpu s_wait _ <<<"$(pm_delta "$s0" "$s1")"
cpu_s=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.3f", (y[2] - x[2]) / 1e9 }')
i_rate=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / s }')
i_cap=$(awk -v b="$bytes" -v c="$cpu_s" 'BEGIN { printf "%.0f", (c > 0 ? b / c : 0) }')
wait_samples "$SPORT" 2
# ours over the samples from the resume on: the bytes they replayed, the
# startup process's CPU seconds, hence bytes per CPU-second (the capacity
# over the whole catch-up), the per-sample capacity where it is estimated,
# and the catch-up's end as the history sees it (between the last sample
# with a backlog and the first without)
IFS='|' read -r o_bytes o_cpu_s o_cap o_cap_med o_secs n <<<"$(q "$SPORT" "
	SELECT round(sum(replay_rate_bytes_per_s * interval_seconds)),
	       round(sum(startup_cpu_pct / 100 * interval_seconds)::numeric, 3),
	       round(sum(replay_rate_bytes_per_s * interval_seconds) / nullif(sum(startup_cpu_pct / 100 * interval_seconds), 0)),
	       coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY replay_rate_bytes_per_s * 100 / startup_cpu_pct)
	                FILTER (WHERE startup_cpu_pct >= 20))::text, 'n/a'),
	       round(((extract(epoch FROM max(\"time\") FILTER (WHERE replay_lag_bytes > 0))
	               + extract(epoch FROM min(\"time\") FILTER (WHERE replay_lag_bytes = 0))) / 2
	              - extract(epoch FROM '$t0'::timestamptz))::numeric, 1),
	       count(*)
	FROM pg_postmaster_stats_history WHERE \"time\" > '$t0'")"
mbs() { awk -v b="$1" 'BEGIN { if (b == "n/a" || b == "") print "n/a"; else printf "%.1f MB/s", b / 1048576 }'; }
result "catch-up: $o_bytes bytes replayed, startup process $o_cpu_s CPU-s: $(mbs "$o_cap") per core (per-sample capacity median $(mbs "$o_cap_med")); caught up after ~${o_secs:-n/a} s (1 s samples)" \
	"script: $bytes bytes in $secs s ($(mbs "$i_rate")); /proc schedstat: startup process $cpu_s CPU-s ($s_cpu % on CPU, $s_wait % waiting): $(mbs "$i_cap") per core" \
	"bytes $(reldiff "$o_bytes" "$bytes") %, replay per CPU-second $(reldiff "$o_cap" "$i_cap") %"

# --- steady load with replay running: the headroom ---------------------------------------
log "steady writes for $STEADY_SECONDS s with replay running"
w0=$(q "$PPORT" "SELECT pg_current_wal_lsn()")
n0=$(date +%s%N)
t0=$(now_ts)
"$PGBIN/pgbench" -n -c "$REPLAY_CLIENTS" -j 2 -T "$STEADY_SECONDS" -h "$WORK" -p "$PPORT" -U postgres postgres \
	>"$WORK/steady.out" 2>&1 || { cat "$WORK/steady.out" >&2; die "pgbench failed"; }
w1=$(q "$PPORT" "SELECT pg_current_wal_lsn()")
n1=$(date +%s%N)
t1=$(now_ts)
gen=$(q "$PPORT" "SELECT round(pg_wal_lsn_diff('$w1', '$w0') * 1e9 / ($n1 - $n0))")
# the history keeps the headroom and the startup CPU; the WAL arrival rate
# per sample is the primary's generation rate, kept in the primary's history
IFS='|' read -r h_head h_cpu h_n <<<"$(hist "$SPORT" "$t0" "$t1" "
	coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY replay_headroom)::numeric, 1)::text, 'n/a'),
	round(avg(startup_cpu_pct)::numeric, 1), count(*)")"
o_gen=$(hist "$PPORT" "$t0" "$t1" "round(sum(wal_generated_bytes_per_s * interval_seconds) / sum(interval_seconds))")
state=$(q "$SPORT" "SELECT state FROM pg_postmaster_stats_replay")
result "steady writes: primary wal_generated $(mbs "$o_gen"); standby replay_headroom ${h_head} (median of $h_n samples), startup_cpu_pct $h_cpu %, state $state" \
	"pg_current_wal_lsn() over the same ${STEADY_SECONDS} s: $(mbs "$gen"); pgbench $(sed -n -E 's/^tps = ([0-9]+).*/\1/p' "$WORK/steady.out") tps" \
	"WAL rate $(reldiff "$o_gen" "$gen") %; $(awk -v h="$h_head" 'BEGIN { if (h == "n/a") print "headroom not measurable: the startup process was under 20 % busy, i.e. plenty"; else if (h + 0 < 1) print "headroom below 1: this standby cannot keep up"; else printf "replay could absorb %sx this write rate: no wall on this machine (the article: crossover ~5x above a 24-thread primary)\n", h }')"
