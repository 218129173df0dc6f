#!/usr/bin/env bash
#
# bench_conn_breakdown.sh - the extension's own CPU per new connection and
# per transaction, part by part, from pg_postmaster_stats_overhead (issue 18).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# One cluster with the extension (every source on, no exporter), pgbench
# tables at scale 10.  For `pgbench -S -C` (one connection per transaction)
# and `pgbench -S`, the overhead view is read before and after a run of
# DURATION seconds and each part's CPU is divided by the transactions; the
# whole cluster's CPU (/proc, as bench_cost.sh counts it) is divided the
# same way, so each part's share of the server CPU per transaction shows.
# kernel.bpf_stats_enabled is set to 1 for the runs (root only) and put
# back afterwards; it makes the kernel count the BPF programs' runs and
# time, and costs two clock reads per program run itself.  The programs'
# runs are machine-wide (sys_enter/sys_exit run on every system call of
# every process, pgbench's included): their share is an upper bound.
#
# Usage (as root):
#   test/bench/bench_conn_breakdown.sh
# Environment knobs (defaults in brackets):
#   DURATION [20]  seconds per run
#   PGBENCH_CLIENTS [4], PGBENCH_THREADS [2], SCALE [10]
#
set -euo pipefail

BENCH_NAME=bench_conn_breakdown
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

MAX_CONNECTIONS=100
pgbench_knobs 1 20

[[ $EUID -eq 0 ]] || die "run as root: kernel.bpf_stats_enabled needs it"
bench_setup
BPF_STATS_ORIG=$(cat /proc/sys/kernel/bpf_stats_enabled)
trap 'rc=$?; sysctl -q kernel.bpf_stats_enabled="$BPF_STATS_ORIG"; (exit $rc); bench_cleanup' EXIT
sysctl -q kernel.bpf_stats_enabled=1

ext_cluster breakdown
DATADIR=$WORK/breakdown
wait_source "$PORT" ebpf t
pgbench_init "$PORT"

# every row: "component calls cpu_seconds"
ovh_rows() {
	q "$PORT" "SELECT component || ' ' || calls_total || ' ' || cpu_seconds_total FROM pg_postmaster_stats_overhead"
}

hz=$(getconf CLK_TCK)
for workload in connect select_only; do
	args=(-S)
	[[ $workload == connect ]] && args+=(-C)
	# one sample after the previous run, so its events are folded in
	pause 2
	ovh_rows >"$WORK/ovh.before"
	c0=$(cluster_cpu_ticks "$DATADIR")
	pgbench_once "$PORT" "${args[@]}"
	c1=$(cluster_cpu_ticks "$DATADIR")
	pause 2
	ovh_rows >"$WORK/ovh.after"
	server_us=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$PGB_TX" 'BEGIN { printf "%.2f", c / hz * 1e6 / n }')
	emit "breakdown workload=$workload tps=$PGB_TPS transactions=$PGB_TX server_cpu_us_per_tx=$server_us"
	# per part: CPU per transaction, its share of the server's, calls per transaction
	while read -r line; do
		emit "  $line"
	done < <(awk -v n="$PGB_TX" -v srv="$server_us" '
		NR == FNR { calls0[$1] = $2; cpu0[$1] = $3; next }
		{
			dc = $2 - calls0[$1]
			us = ($3 - cpu0[$1]) * 1e6 / n
			printf "%s us_per_tx=%.3f pct_of_server=%.3f calls_per_tx=%.2f ns_per_call=%s\n", $1, us, 100 * us / srv, dc / n,
				(dc > 0) ? sprintf("%.0f", us * n * 1000 / dc) : "-"
		}' "$WORK/ovh.before" "$WORK/ovh.after")
done

print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS clients=$PGBENCH_CLIENTS threads=$PGBENCH_THREADS scale=$SCALE duration=$DURATION kernel.bpf_stats_enabled=1 during the runs"
