#!/usr/bin/env bash
#
# bench_scale.sh - does the extension's own cost stay flat as idle
# connections grow (issue 18)?
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# For each count N of CLIENTS, N idle connections are held by pgbench
# (test/workloads/idle_connections.sql); once a sample has seen them all and
# one slow limits refresh has run with them, a window of WINDOW seconds
# measures, from pg_postmaster_stats_overhead and the history:
#   - sampler: thread CPU per tick (median of the history's sampler_cpu_us)
#     and whole-process CPU per tick (the view's sampler row over the window);
#   - probe: share of one core (the view's probe row), and its split;
#   - the sampler's and the probe's time per source, per tick;
#   - limits refresh: the cheap refresh of every sample and the slow one of
#     every 10 s (PSS, task count, cgroup), from the limits row of
#     pg_postmaster_stats_sources (thread CPU of the whole refresh).
# Memory: MemAvailable before and after the N connections, per connection,
# and the mean Pss_Anon + VmPTE of 20 of the backends; a count that would
# leave less than MEM_RESERVE_MB available is skipped (and said so).
#
# Usage (as root: the kernel limits and /proc of the backends):
#   test/bench/bench_scale.sh
# Environment knobs (defaults in brackets):
#   CLIENTS ["10 500 2000 5000"]  idle connection counts
#   WINDOW [20]           seconds per count
#   MEM_RESERVE_MB [4096] memory left to the machine's other users
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]         1: keep the scratch directory (logs) afterwards
#
set -euo pipefail

BENCH_NAME=bench_scale
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

CLIENTS=${CLIENTS:-"10 500 2000 5000"}
WINDOW=${WINDOW:-20}
MEM_RESERVE_MB=${MEM_RESERVE_MB:-4096}
MAX_CONNECTIONS=$(($(printf '%s\n' $CLIENTS | sort -n | tail -n 1) + 100))

bench_setup

ext_cluster scale
EBPF=$(q "$PORT" "SHOW pg_postmaster_stats.ebpf")
wait_source "$PORT" limits t

mem_available_kb() { awk '/^MemAvailable/ { print $2 }' /proc/meminfo; }

# "cheap_us slow_us" from the limits row of the sources view
limits_costs() {
	session_q "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'limits'" |
		sed -n -E 's/.*every sample \(([0-9.]+) us\).*every [0-9]+ s \(([0-9.]+) us\).*/\1 \2/p'
}

# "calls cpu_seconds" of one overhead row
ovh() {
	q "$PORT" "SELECT calls_total || ' ' || cpu_seconds_total FROM pg_postmaster_stats_overhead WHERE component = '$1'"
}

# "component calls cpu_seconds" of the sampler's and the probe's split rows
split_rows() {
	q "$PORT" "SELECT component || ' ' || calls_total || ' ' || cpu_seconds_total FROM pg_postmaster_stats_overhead
		WHERE component LIKE 'sampler:%' OR component LIKE 'probe:%'"
}

# mean Pss_Anon + VmPTE (MB) of up to 20 client backends
backend_mb() {
	local pid total=0 n=0 anon pte
	for pid in $(q "$PORT" "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() LIMIT 20"); do
		anon=$(awk '/^Pss_Anon:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
		pte=$(awk '/^VmPTE:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
		[[ -n $anon && -n $pte ]] || continue
		total=$((total + anon + pte))
		n=$((n + 1))
	done
	awk -v t="$total" -v n="$n" 'BEGIN { if (n) printf "%.2f", t / n / 1024; else print "NaN" }'
}

per_conn_kb=0
for n in $CLIENTS; do
	avail0=$(mem_available_kb)
	if ((per_conn_kb > 0 && n * per_conn_kb > (avail0 - MEM_RESERVE_MB * 1024))); then
		emit "scale clients=$n skipped: $((n * per_conn_kb / 1024)) MB needed at $per_conn_kb kB per connection, $((avail0 / 1024)) MB available, $MEM_RESERVE_MB MB kept free"
		continue
	fi
	log "scale: $n idle connections"
	start_idle_pgbench "$n" "$PORT"
	wait_for_clients "$n" "$PORT"
	wait_for_sample_with "$n" "$PORT"
	# one slow limits refresh with all N connected before the window
	pause 11
	avail1=$(mem_available_kb)
	per_conn_kb=$(((avail0 - avail1) / n))
	mb=$(backend_mb)

	split_rows >"$WORK/split.before"
	read -r st0 sc0 <<<"$(ovh sampler)"
	read -r pt0 pc0 <<<"$(ovh probe)"
	read -r _ pl0 <<<"$(ovh probe:limits)"
	read -r _ ps0 <<<"$(ovh probe:snapshot_probe)"
	t0=$(date +%s%N)
	cheap=() slow=() last_slow=""
	# Polled over one session: a connection per poll would be a fork and
	# an exit every second, which makes the children source read its
	# arrays every tick.  The ticks of the median start once the reads
	# above (new connections) are 4 s old; the per-source averages include
	# them.
	session_open "$PORT"
	pause 4
	from=$(session_q "SELECT clock_timestamp()")
	for ((i = 0; i < WINDOW; i++)); do
		pause 1
		read -r c s <<<"$(limits_costs)"
		[[ -n ${c:-} ]] || die "no costs in the limits row"
		cheap+=("$c")
		if [[ $s != "$last_slow" ]]; then
			slow+=("$s")
			last_slow=$s
		fi
	done
	session_close
	read -r st1 sc1 <<<"$(ovh sampler)"
	read -r pt1 pc1 <<<"$(ovh probe)"
	read -r _ pl1 <<<"$(ovh probe:limits)"
	read -r _ ps1 <<<"$(ovh probe:snapshot_probe)"
	t1=$(date +%s%N)
	tick_us=$(q "$PORT" "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY sampler_cpu_us)::numeric, 1)
		FROM pg_postmaster_stats_history WHERE time > '$from'")
	tick_max_us=$(q "$PORT" "SELECT round(max(sampler_cpu_us)::numeric, 1) FROM pg_postmaster_stats_history WHERE time > '$from'")
	have=$(q "$PORT" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	emit "scale clients=$n connected=$have window_s=$WINDOW" \
		"sampler_tick_us_median=$tick_us sampler_tick_us_max=$tick_max_us" \
		"sampler_process_us_per_tick=$(awk -v c="$sc1" -v b="$sc0" -v t="$st1" -v s="$st0" 'BEGIN { printf "%.1f", (c - b) * 1e6 / (t - s) }')" \
		"probe_cpu_pct=$(awk -v c="$pc1" -v b="$pc0" -v w="$((t1 - t0))" 'BEGIN { printf "%.3f", 100 * (c - b) * 1e9 / w }')" \
		"probe_limits_pct=$(awk -v c="$pl1" -v b="$pl0" -v w="$((t1 - t0))" 'BEGIN { printf "%.3f", 100 * (c - b) * 1e9 / w }')" \
		"probe_snapshot_pct=$(awk -v c="$ps1" -v b="$ps0" -v w="$((t1 - t0))" 'BEGIN { printf "%.3f", 100 * (c - b) * 1e9 / w }')" \
		"limits_cheap_us_median=$(median "${cheap[@]}") limits_slow_us=$(join_by , "${slow[@]}")" \
		"mem_per_connection_kb=$per_conn_kb backend_pss_anon_pte_mb=$mb mem_available_mb=$((avail1 / 1024))"
	split_rows >"$WORK/split.after"
	emit "split_us_per_tick clients=$n $(awk '
		NR == FNR { t0[$1] = $2; c0[$1] = $3; next }
		$2 > t0[$1] { printf "%s=%.1f ", $1, ($3 - c0[$1]) * 1e6 / ($2 - t0[$1]) }' "$WORK/split.before" "$WORK/split.after")"
	emit "limits_nproc_source clients=$n \"$(q "$PORT" "SELECT source FROM pg_postmaster_stats_limits WHERE limit_name = 'user_processes_nproc'")\""
	stop_idle_pgbench "$PORT"
done

# --- summary -----------------------------------------------------------------------
print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS ebpf=$EBPF max_connections=$MAX_CONNECTIONS"
