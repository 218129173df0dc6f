#!/usr/bin/env bash
#
# bench_limits.sh - what one refresh of the limits costs with many
# connections (issue 8).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# What it measures: the probe worker measures the limits every sample (cheap
# ones) and, every 10 s, also memory per backend (PSS from smaps_rollup of
# every backend), the user's tasks and the cgroup's memory (slow ones).  It
# publishes the CPU time each refresh took, which the 'limits' row of
# pg_postmaster_stats_sources shows:
#   "... limits measured every sample (212 us); memory per backend, user
#    tasks and cgroup memory every 10 s (1457 us)"
# (the slow figure is the whole refresh, cheap part included).  With N idle
# connections held by pgbench (test/workloads/idle_connections.sql) that row
# is read once a second for a window; the cheap figure changes every sample,
# the slow one every 10 s, so each distinct slow value counts once.  The
# probe worker's own CPU (schedstat) over the window is printed as a
# cross-check; it includes the snapshot probe.
#
# Usage (as root or as the postgres OS user):
#   test/bench/bench_limits.sh
# Environment knobs (defaults in brackets):
#   CLIENTS ["10 1000"]  idle connection counts (max_connections is 1100)
#   WINDOW [40]          seconds the sources row is read per count
#   CLIENT_HOST [socket dir]  where clients connect (or 127.0.0.1)
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]        1: keep the scratch directory (logs) afterwards
#
set -euo pipefail

BENCH_NAME=bench_limits
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

CLIENTS=${CLIENTS:-"10 1000"}
WINDOW=${WINDOW:-40}
MAX_CONNECTIONS=1100

bench_setup

ext_cluster limits
EBPF=$(q "$PORT" "SHOW pg_postmaster_stats.ebpf")
wait_source "$PORT" limits t

# "cheap_us slow_us" from the limits row of the sources view
limits_costs() {
	q "$PORT" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'limits'" |
		sed -n -E 's/.*every sample \(([0-9.]+) us\).*every [0-9]+ s \(([0-9.]+) us\).*/\1 \2/p'
}

# ms with two decimals from us
us_to_ms() { awk -v u="$1" 'BEGIN { if (u == "NaN") print u; else printf "%.2f", u / 1000 }'; }

for n in $CLIENTS; do
	log "limits cost: $n idle connections"
	start_idle_pgbench "$n" "$PORT"
	wait_for_clients "$n" "$PORT"
	wait_for_sample_with "$n" "$PORT"
	# one slow refresh with all N connected before the window
	pause 11

	ppid=$(q "$PORT" "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_postmaster_stats probe'")
	[[ $ppid =~ ^[0-9]+$ ]] || die "no probe worker in pg_stat_activity"
	w0=$(date +%s%N)
	r0=$(proc_runtime_ns "$ppid")
	cheap=() slow=() last_slow=""
	for ((i = 0; i < WINDOW; i++)); do
		pause 1
		read -r c s <<<"$(limits_costs)"
		[[ -n ${c:-} ]] || die "no costs in the limits row: $(q "$PORT" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'limits'")"
		cheap+=("$c")
		if [[ $s != "$last_slow" ]]; then
			slow+=("$s")
			last_slow=$s
		fi
	done
	r1=$(proc_runtime_ns "$ppid")
	w1=$(date +%s%N)
	have=$(q "$PORT" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
	cheap_max=$(printf '%s\n' "${cheap[@]}" | sort -g | tail -n 1)
	slow_max=$(printf '%s\n' "${slow[@]}" | sort -g | tail -n 1)
	emit "limits_cost clients=$n connected=$have window_s=$WINDOW" \
		"cheap_ms_median=$(us_to_ms "$(median "${cheap[@]}")") cheap_ms_max=$(us_to_ms "$cheap_max") cheap_readings=${#cheap[@]}" \
		"slow_ms_median=$(us_to_ms "$(median "${slow[@]}")") slow_ms_max=$(us_to_ms "${slow_max:-NaN}") slow_refreshes=${#slow[@]} slow_us=$(join_by , "${slow[@]}")" \
		"probe_cpu_pct_of_one_core=$(awk -v r="$((r1 - r0))" -v w="$((w1 - w0))" 'BEGIN { printf "%.3f", 100 * r / w }')"
	emit "limits_detail clients=$n \"$(q "$PORT" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'limits'")\""
	stop_idle_pgbench "$PORT"
done

# --- summary -----------------------------------------------------------------------
print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS ebpf=$EBPF max_connections=$MAX_CONNECTIONS client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")"
