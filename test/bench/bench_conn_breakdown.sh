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
# With perf (Debian's linux-perf) the same runs are also sampled machine
# wide (cpu-clock, PERF_HZ per CPU; no hardware counters are needed), and
# the samples are split into: the extension's code in every process
# (pg_postmaster_stats.so), its BPF programs, the kernel's syscall
# tracepoint path that attaching sys_enter/sys_exit switches every system
# call to (syscall_trace_enter, syscall_exit_work and the tracepoint
# dispatch down to the programs), the rest of the server and pgbench.  This
# is the second, independent breakdown: it sees what the overhead view
# cannot (the tracepoint path around the programs), and needs no
# kernel.bpf_stats_enabled.
#
# Usage (as root):
#   test/bench/bench_conn_breakdown.sh
# Environment knobs (defaults in brackets):
#   DURATION [20]  seconds per run
#   PGBENCH_CLIENTS [4], PGBENCH_THREADS [2], SCALE [10]
#   EBPF_SYSCALLS [on]  pg_postmaster_stats.ebpf_syscalls for the runs (on,
#                       unlike the setting's default, shows the programs on
#                       the machine's system calls; off: none there)
#   PERF [1 if perf works]  0: skip the perf breakdown
#   PERF_HZ [2999]  samples per second and CPU
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
EBPF_SYSCALLS=${EBPF_SYSCALLS:-on}
set_reload "$PORT" pg_postmaster_stats.ebpf_syscalls "$EBPF_SYSCALLS"
want_untraced=$([[ $EBPF_SYSCALLS == off ]] && echo t || echo f)
for ((i = 0; i < 100; i++)); do
	[[ $(q "$PORT" "SELECT active AND (detail LIKE '%system calls not traced%') = '$want_untraced' FROM pg_postmaster_stats_sources WHERE source = 'ebpf'") == t ]] && break
	pause 0.2
done
wait_source "$PORT" ebpf t
pgbench_init "$PORT"

# every row: "component calls cpu_seconds"
ovh_rows() {
	q "$PORT" "SELECT component || ' ' || calls_total || ' ' || cpu_seconds_total FROM pg_postmaster_stats_overhead"
}

PERF=${PERF:-$(perf record -a -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 && echo 1 || echo 0)}
PERF_HZ=${PERF_HZ:-2999}

# perf_split FILE TRANSACTIONS: the samples of FILE by part, in us per transaction
perf_split() {
	perf report -i "$1" --stdio --no-children -g none --sort comm,dso,sym -t '|' \
		-F sample,comm,dso,sym 2>/dev/null |
		awk -F'|' -v hz="$PERF_HZ" -v n="$2" '
		/^#/ || NF < 4 { next }
		{
			samples = $1 + 0; comm = $2; dso = $3; sym = $4
			gsub(/^ +| +$/, "", comm); gsub(/^ +| +$/, "", dso); gsub(/^ +| +$/, "", sym)
			sub(/^\[[.k]\] /, "", sym); sub(/ +$/, "", sym)
			all += samples
			if (comm ~ /^swapper/) { idle += samples; next }
			if (dso ~ /pg_postmaster_stats\.so/) ours_so += samples
			else if (dso ~ /^bpf_prog_.*_pps_/) ours_bpf += samples
			else if (sym ~ /^(syscall_trace_enter|syscall_exit_work|__traceiter_sys_enter|__traceiter_sys_exit|__bpf_trace_sys_enter|__bpf_trace_sys_exit|bpf_trace_run2|__bpf_prog_enter|__bpf_prog_exit)/) tp += samples
			else if (comm ~ /^postgres/) server += samples
			else if (comm ~ /^pgbench/) client += samples
			else other += samples
		}
		END {
			f = 1e6 / hz / n
			busy = all - idle
			printf "perf_us_per_tx extension_code=%.3f bpf_programs=%.3f syscall_tracepoint_path=%.3f server_rest=%.2f pgbench=%.2f other=%.2f\n", \
				ours_so * f, ours_bpf * f, tp * f, server * f, client * f, other * f
			printf "perf_share_of_busy_pct extension_code=%.3f bpf_programs=%.3f syscall_tracepoint_path=%.3f samples=%d busy=%d\n", \
				100 * ours_so / busy, 100 * ours_bpf / busy, 100 * tp / busy, all, busy
		}'
}

hz=$(getconf CLK_TCK)
for workload in connect select_only; do
	args=(-S)
	[[ $workload == connect ]] && args+=(-C)
	# one sample after the previous run, so its events are folded in
	pause 2
	ovh_rows >"$WORK/ovh.before"
	c0=$(cluster_cpu_ticks "$DATADIR")
	if [[ $PERF == 1 ]]; then
		perf record -a -e cpu-clock -F "$PERF_HZ" -o "$WORK/perf.$workload" >/dev/null 2>&1 &
		perf_pid=$!
		pause 1
	fi
	pgbench_once "$PORT" "${args[@]}"
	c1=$(cluster_cpu_ticks "$DATADIR")
	if [[ $PERF == 1 ]]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
	fi
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
	if [[ $PERF == 1 ]]; then
		while read -r line; do
			emit "  $line"
		done < <(perf_split "$WORK/perf.$workload" "$PGB_TX")
	fi
done

print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS clients=$PGBENCH_CLIENTS threads=$PGBENCH_THREADS scale=$SCALE duration=$DURATION kernel.bpf_stats_enabled=1 during the runs perf=$PERF perf_hz=$PERF_HZ ebpf_syscalls=$EBPF_SYSCALLS"
