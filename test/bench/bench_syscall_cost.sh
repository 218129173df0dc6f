#!/usr/bin/env bash
#
# bench_syscall_cost.sh - what one attached set of eBPF programs costs every
# system call of the machine (issue 13).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# The programs on the raw sys_enter/sys_exit tracepoints run on every
# system call of every process, and return at once unless the caller is the
# watched postmaster.  What that costs an unrelated process is measured with
# a process that does little else than system calls: dd with 1-byte blocks
# (COUNT reads and COUNT writes).  One cluster with the extension runs all
# along, with pg_postmaster_stats.ebpf_syscalls = on (the setting that puts
# programs there; off by default); rounds alternate between its eBPF source
# on and off
# (pg_postmaster_stats.ebpf, reloaded: off detaches the programs), so both
# sides see the same machine.  The loader attaches at most one set per
# postmaster (a second loader is refused), so this is the cost per
# postmaster on the machine.
#
# Usage (as root or as the postgres OS user):
#   test/bench/bench_syscall_cost.sh
# Environment knobs (defaults in brackets):
#   ROUNDS [7]       alternating off/on rounds
#   COUNT [2000000]  dd blocks per run (2 system calls each)
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]    1: keep the scratch directory (logs) afterwards
#
set -euo pipefail

BENCH_NAME=bench_syscall_cost
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

ROUNDS=${ROUNDS:-7}
COUNT=${COUNT:-2000000}
MAX_CONNECTIONS=100

bench_setup

ext_cluster syscalls
# the programs on every system call are what this measures (off by default)
set_reload "$PORT" pg_postmaster_stats.ebpf_syscalls on
for ((i = 0; i < 100; i++)); do
	[[ $(q "$PORT" "SELECT active AND detail NOT LIKE '%system calls not traced%' FROM pg_postmaster_stats_sources WHERE source = 'ebpf'") == t ]] && break
	pause 0.2
done
wait_source "$PORT" ebpf t

# ns of wall time for one dd run
dd_ns() {
	local t0 t1
	t0=$(date +%s%N)
	dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" status=none
	t1=$(date +%s%N)
	echo $((t1 - t0))
}

off=() on=() per_call=()
for ((r = 1; r <= ROUNDS; r++)); do
	set_reload "$PORT" pg_postmaster_stats.ebpf off
	wait_source "$PORT" ebpf f
	a=$(dd_ns)
	set_reload "$PORT" pg_postmaster_stats.ebpf on
	wait_source "$PORT" ebpf t
	b=$(dd_ns)
	off+=("$a")
	on+=("$b")
	per_call+=("$(awk -v a="$a" -v b="$b" -v n="$COUNT" 'BEGIN { printf "%.1f", (b - a) / (2 * n) }')")
	log "round $r: off $((a / 1000000)) ms, on $((b / 1000000)) ms"
done

m_off=$(median "${off[@]}")
m_on=$(median "${on[@]}")
m_call=$(median "${per_call[@]}")
m_base=$(awk -v a="$m_off" -v n="$COUNT" 'BEGIN { printf "%.1f", a / (2 * n) }')

print_identity
echo "dd bs=1 count=$COUNT (2 x $COUNT system calls), $ROUNDS alternating rounds, medians:"
printf '  eBPF off: %.0f ms (%s ns per system call)\n' "$(awk -v v="$m_off" 'BEGIN { print v / 1e6 }')" "$m_base"
printf '  eBPF on:  %.0f ms\n' "$(awk -v v="$m_on" 'BEGIN { print v / 1e6 }')"
echo "  added per system call of an unrelated process, one attached postmaster: $m_call ns (paired median)"
echo "  ratio on/off: $(ratio "$m_on" "$m_off")"
