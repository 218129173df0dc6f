#!/usr/bin/env bash
#
# bench_snapshot.sh - what the snapshot probe worker costs (issue 5).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# What it measures:
#   1. The probe worker's own CPU ("pg_postmaster_stats probe" in
#      pg_stat_activity.backend_type) with 10 and with 500 idle connections
#      (pgbench running test/workloads/idle_connections.sql), as % of one
#      core from /proc/<pid>/schedstat (on-CPU ns) over a window, next to the
#      snapshot_ns medians of the history in the same window.  The worker
#      also measures the limits every sample (and the expensive ones every
#      10 s); their own CPU cost, which the worker publishes in the
#      'limits' row of pg_postmaster_stats_sources, is printed too, so the
#      snapshot part can be told apart.
#   2. pgbench -S TPS with pg_postmaster_stats.snapshot_probe on vs off on
#      the same cluster (ALTER SYSTEM + pg_reload_conf(), checking the
#      'snapshot_probe' row of pg_postmaster_stats_sources before every
#      run), alternating; with the CPU per transaction of the cluster (the
#      probe included) and of cluster plus pgbench, from /proc.
#
# Usage (as root or as the postgres OS user):
#   test/bench/bench_snapshot.sh
# Environment knobs (defaults in brackets):
#   RUNS [10]            pgbench runs per side (short runs, many
#   DURATION [5]         seconds per pgbench run   alternations: the
#                        machine's other tenants come and go)
#   SCALE [10]           pgbench -i scale factor
#   PGBENCH_CLIENTS [4]  pgbench -c
#   PGBENCH_THREADS [2]  pgbench -j
#   IDLE_CLIENTS ["10 500"]  idle connection counts
#   PROBE_WINDOW [30]    seconds over which the probe's CPU is measured
#   CLIENT_HOST [socket dir]  where clients connect (or 127.0.0.1)
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]        1: keep the scratch directory (logs) afterwards
#
set -euo pipefail

BENCH_NAME=bench_snapshot
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

pgbench_knobs 10 5
IDLE_CLIENTS=${IDLE_CLIENTS:-"10 500"}
PROBE_WINDOW=${PROBE_WINDOW:-30}
MAX_CONNECTIONS=600

bench_setup

ext_cluster snap
EBPF=$(q "$PORT" "SHOW pg_postmaster_stats.ebpf")
wait_source "$PORT" snapshot_probe t

probe_pid() {
	q "$PORT" "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_postmaster_stats probe'"
}

# "cheap_us slow_us" from the limits row of the sources view
limits_costs() {
	q "$PORT" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'limits'" |
		sed -n -E 's/.*every sample \(([0-9.]+) us\).*every [0-9]+ s \(([0-9.]+) us\).*/\1 \2/p'
}

now_ns() { date +%s%N; }

# --- 1. probe CPU with N idle connections ----------------------------------------

for n in $IDLE_CLIENTS; do
	log "probe cost: $n idle connections"
	start_idle_pgbench "$n" "$PORT"
	wait_for_clients "$n" "$PORT"
	wait_for_sample_with "$n" "$PORT"
	sleep 1

	ppid=$(probe_pid)
	[[ $ppid =~ ^[0-9]+$ ]] || die "no probe worker in pg_stat_activity"
	t0=$(q "$PORT" "SELECT clock_timestamp()")
	w0=$(now_ns)
	r0=$(proc_runtime_ns "$ppid")
	cheap=() slow=() last_slow=""
	# read the limits costs once per second during the window
	for ((i = 0; i < PROBE_WINDOW; i++)); do
		pause 1
		read -r c s <<<"$(limits_costs)"
		[[ -n ${c:-} ]] && cheap+=("$c")
		if [[ -n ${s:-} && $s != "$last_slow" ]]; then
			slow+=("$s")
			last_slow=$s
		fi
	done
	r1=$(proc_runtime_ns "$ppid")
	w1=$(now_ns)
	t1=$(q "$PORT" "SELECT clock_timestamp()")
	[[ $(probe_pid) == "$ppid" ]] || die "the probe worker restarted during the window"

	IFS='|' read -r samples snap_med snap_max_med procs_med xcnt_med <<<"$(q "$PORT" "
		SELECT count(snapshot_ns),
		       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY snapshot_ns)::numeric, 0),
		       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY snapshot_ns_max)::numeric, 0),
		       percentile_disc(0.5) WITHIN GROUP (ORDER BY snapshot_procs),
		       percentile_disc(0.5) WITHIN GROUP (ORDER BY snapshot_xcnt)
		FROM pg_postmaster_stats_history
		WHERE \"time\" > '$t0' AND \"time\" <= '$t1'")"
	calls=$(q "$PORT" "SELECT calls FROM pg_postmaster_stats_snapshot")
	cpu_pct=$(awk -v r="$((r1 - r0))" -v w="$((w1 - w0))" 'BEGIN { printf "%.3f", 100 * r / w }')
	per_tick_us=$(awk -v r="$((r1 - r0))" -v w="$((w1 - w0))" -v i="$INTERVAL_MS" \
		'BEGIN { printf "%.1f", r / 1e3 / (w / 1e6 / i) }')
	cheap_med=$(median "${cheap[@]}")
	slow_med=$(median "${slow[@]}")
	# What is left for the snapshots: the tick's CPU minus the limits part
	# (the cheap refresh every tick, the slow one instead of it every 10 s;
	# the first slow value read was published before the window).
	nslow=$((${#slow[@]} > 0 ? ${#slow[@]} - 1 : 0))
	snap_us=$(awk -v t="$per_tick_us" -v c="$cheap_med" -v s="$slow_med" -v ns="$nslow" \
		-v ticks="$(awk -v w="$((w1 - w0))" -v i="$INTERVAL_MS" 'BEGIN { print w / 1e6 / i }')" \
		'BEGIN { printf "%.1f", t - ((ticks - ns) * c + ns * s) / ticks }')
	emit "probe_cpu clients=$n cpu_pct_of_one_core=$cpu_pct cpu_us_per_interval=$per_tick_us window_s=$PROBE_WINDOW" \
		"snapshot_ns_median=$snap_med snapshot_ns_max_median=$snap_max_med snapshot_procs=$procs_med snapshot_xcnt=$xcnt_med calls_per_interval=$calls samples=$samples" \
		"limits_cheap_us_median=$cheap_med limits_slow_us_median=$slow_med slow_refreshes_in_window=$nslow snapshot_part_us_per_interval_est=$snap_us"
	stop_idle_pgbench "$PORT"
done

# --- 2. TPS with the probe on vs off -----------------------------------------------

log "pgbench -i -s $SCALE"
pgbench_init "$PORT"

# probe_state on|off: switch if needed, then check what the sampler reports
probe_state() {
	local want=$1 active=t
	[[ $want == off ]] && active=f
	if [[ $(q "$PORT" "SHOW pg_postmaster_stats.snapshot_probe") != "$want" ]]; then
		set_reload "$PORT" pg_postmaster_stats.snapshot_probe "$want"
		wait_source "$PORT" snapshot_probe "$active"
	fi
	[[ $(source_active "$PORT" snapshot_probe) == "$active" ]] ||
		die "snapshot_probe source is not $want before the run"
}
prep_on() { probe_state on; AB_PORT=$PORT AB_DATADIR=$WORK/snap; }
prep_off() { probe_state off; AB_PORT=$PORT AB_DATADIR=$WORK/snap; }
AB_PAIRED=1 AB_CPU=1
compare_tps select_only on off -S

# --- summary -----------------------------------------------------------------------
print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS ebpf=$EBPF max_connections=$MAX_CONNECTIONS pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS scale=$SCALE client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")"
