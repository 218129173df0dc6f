#!/usr/bin/env bash
#
# bench_conn_perf_diff.sh - where the extra CPU of a new connection goes
# with the extension, symbol by symbol (issue 18).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# bench_cost.sh measures how much more CPU a connection costs with the
# extension than without; bench_conn_breakdown.sh measures our own parts.
# This script finds the rest: two clusters side by side (as bench_cost.sh:
# the same settings but shared_preload_libraries, no exporter), ROUNDS
# rounds of `pgbench -S -C` on each in alternating order, each run sampled
# machine wide with `perf record -a -e cpu-clock` (no hardware counters
# needed).  While the without side runs, the with cluster has
# pg_postmaster_stats.enabled = off, which detaches the eBPF programs (they
# would tax every system call of the machine).  The samples of each side
# are summed over its rounds and divided by its connections; the output is
# CPU per connection by part (server, pgbench, kernel, ours), then the
# symbols whose CPU per connection grew most with the extension.
#
# Usage (as root: perf -a):
#   test/bench/bench_conn_perf_diff.sh
# Environment knobs (defaults in brackets):
#   ROUNDS [3], DURATION [15]  rounds, seconds per run
#   PGBENCH_CLIENTS [4], PGBENCH_THREADS [2], SCALE [10]
#   PERF_HZ [2999]  samples per second and CPU
#   TOP [25]        symbols listed
#   EBPF_SYSCALLS [on]  off: pg_postmaster_stats.ebpf_syscalls = off on the
#                   with side (no programs on the machine's system calls)
#   BASELINE_PRELOAD []  a library the without side preloads, e.g.
#                   pps_test_fatfork (test/fatfork; size_mb 0 maps nothing):
#                   then the difference is ours beyond what any preloaded
#                   library costs a fork and an exit
#
set -euo pipefail

BENCH_NAME=bench_conn_perf_diff
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

MAX_CONNECTIONS=100
ROUNDS=${ROUNDS:-3}
pgbench_knobs 1 15
PERF_HZ=${PERF_HZ:-2999}
TOP=${TOP:-25}
EBPF_SYSCALLS=${EBPF_SYSCALLS:-on}
BASELINE_PRELOAD=${BASELINE_PRELOAD:-}
BASELINE=()
[[ -n $BASELINE_PRELOAD ]] && BASELINE=("shared_preload_libraries = '$BASELINE_PRELOAD'")

[[ $EUID -eq 0 ]] || die "run as root: perf record -a needs it"
perf record -a -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 ||
	die "perf record -a -e cpu-clock does not work here (apt-get install linux-perf)"
bench_setup

SETTINGS=(
	"shared_buffers = 256MB"
	"synchronous_commit = off"
	"pg_postmaster_stats.sample_interval = '1s'"
	"pg_postmaster_stats.snapshot_probe = on"
	"pg_postmaster_stats.ebpf = on"
	"pg_postmaster_stats.ebpf_syscalls = $EBPF_SYSCALLS"
)
pair_ports with without
make_cluster with "$PORT_WITH" yes "${SETTINGS[@]}"
make_cluster without "$PORT_WITHOUT" no "${SETTINGS[@]}" "${BASELINE[@]}"
q "$PORT_WITH" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
wait_source "$PORT_WITH" ebpf t
CLIENT_HOST=$WORK
pgbench_init "$PORT_WITH"
pgbench_init "$PORT_WITHOUT"

# one run of SIDE: perf samples by "class|dso|symbol" appended to $WORK/$side.samples
run_side() {
	local side=$1 port=$2 data=$WORK/perf.data
	if [[ $side == with ]]; then
		set_reload "$PORT_WITH" pg_postmaster_stats.enabled on
		wait_source "$PORT_WITH" ebpf t
	else
		set_reload "$PORT_WITH" pg_postmaster_stats.enabled off
		wait_source "$PORT_WITH" ebpf f
	fi
	pause 2
	perf record -a -e cpu-clock -F "$PERF_HZ" -o "$data" >/dev/null 2>&1 &
	local perf_pid=$!
	pause 1
	pgbench_once "$port" -S -C
	kill -INT "$perf_pid"
	wait "$perf_pid" || true
	echo "$PGB_TX" >>"$WORK/$side.tx"
	emit "round side=$side connections=$PGB_TX tps=$PGB_TPS"
	# class: the server, pgbench, or anything else (idle excluded)
	perf report -i "$data" --stdio --no-children -g none --sort comm,dso,sym -t '|' \
		-F sample,comm,dso,sym 2>/dev/null |
		awk -F'|' '
		/^#/ || NF < 4 { next }
		{
			n = $1 + 0; comm = $2; dso = $3; sym = $4
			gsub(/^ +| +$/, "", comm); gsub(/^ +| +$/, "", dso); gsub(/^ +| +$/, "", sym)
			if (comm ~ /^swapper/) next
			class = comm ~ /^postgres/ ? "server" : (comm ~ /^pgbench/ ? "pgbench" : "other")
			if (dso ~ /pg_postmaster_stats\.so/ || dso ~ /^bpf_prog_.*_pps_/) class = "ours"
			print n "|" class "|" dso "|" sym
		}' >>"$WORK/$side.samples"
}

: >"$WORK/with.samples"
: >"$WORK/without.samples"
: >"$WORK/with.tx"
: >"$WORK/without.tx"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=(with without); else order=(without with); fi
	for side in "${order[@]}"; do
		if [[ $side == with ]]; then run_side with "$PORT_WITH"; else run_side without "$PORT_WITHOUT"; fi
	done
done
set_reload "$PORT_WITH" pg_postmaster_stats.enabled on

tx_with=$(awk '{ s += $1 } END { print s }' "$WORK/with.tx")
tx_without=$(awk '{ s += $1 } END { print s }' "$WORK/without.tx")

# per side: us per connection of each key; then the difference
per_conn() {
	awk -F'|' -v hz="$PERF_HZ" -v n="$2" -v key="$3" '
		{ k = (key == "class") ? $2 : $2 "|" $3 "|" $4; s[k] += $1 }
		END { for (k in s) printf "%s\t%.3f\n", k, s[k] * 1e6 / hz / n }' "$1"
}
diff_table() {
	join -t $'\t' -a 1 -a 2 -e 0 -o 0,1.2,2.2 \
		<(per_conn "$WORK/with.samples" "$tx_with" "$1" | sort -t $'\t' -k1,1) \
		<(per_conn "$WORK/without.samples" "$tx_without" "$1" | sort -t $'\t' -k1,1) |
		awk -F'\t' '{ printf "%s\t%.3f\t%.3f\t%.3f\n", $1, $2, $3, $2 - $3 }'
}

emit "connections with=$tx_with without=$tx_without rounds=$ROUNDS duration_s=$DURATION"
while IFS=$'\t' read -r k w wo d; do
	emit "class=$k us_per_conn_with=$w without=$wo difference=$d"
done < <(diff_table class | sort -t $'\t' -k4,4 -g -r)
emit "symbols whose CPU per connection grew most (us per connection: with, without, difference):"
while IFS=$'\t' read -r k w wo d; do
	emit "  $d  ($w - $wo)  $k"
done < <(diff_table sym | sort -t $'\t' -k4,4 -g -r | head -n "$TOP")

print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) clients=$PGBENCH_CLIENTS threads=$PGBENCH_THREADS scale=$SCALE perf_hz=$PERF_HZ ebpf_syscalls=$EBPF_SYSCALLS baseline_preload=${BASELINE_PRELOAD:-none}"
