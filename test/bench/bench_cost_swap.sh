#!/usr/bin/env bash
#
# bench_cost_swap.sh - what the extension costs per transaction, with the
# two clusters' own difference cancelled (issue 18).
#
# This is a benchmark, not a test: it prints figures and ratios and never
# compares them with a threshold.
#
# bench_cost.sh compares a cluster with the extension against a second
# cluster without it.  On this kind of machine (a VM on shared hosts) two
# identical clusters do not cost the same: with nothing of ours in either,
# one of them can take 1-3% more CPU per connection than the other for as
# long as both run (where the kernel placed their shared memory, what their
# buffers hold).  That difference lands in bench_cost.sh's ratio as if it
# were ours.  This script measures it and takes it out:
#
#   two clusters A and B, identical but for shared_preload_libraries, the
#   extension created in both (so their catalogs match);
#   half 1: A preloads pg_postmaster_stats, B the baseline (nothing, or
#           BASELINE_PRELOAD); half 2: both restart with the preloads
#           swapped;
#   in each half, for each workload, RUNS pairs of one pgbench run per
#   side in the order with,without then without,with (ABBA): the paired
#   difference of server CPU per transaction, with minus without;
#   half 1 gives d1 = ours + (A - B), half 2 gives d2 = ours + (B - A), so
#   ours = (d1 + d2) / 2 and the clusters' own difference
#   A - B = (d1 - d2) / 2.
#
# Server CPU per transaction is the cluster's (every process, with what the
# postmaster reaped, from /proc) divided by pgbench's transactions, as in
# bench_cost.sh.  After each restart both clusters warm up with WARMUP s of
# pgbench -S.  No exporter and no scrape: bench_scrape.sh measures those.
# While a without run is measured the with cluster stays up but idle: its
# sampler ticks (its eBPF programs run only in its own postmaster's events
# unless pg_postmaster_stats.ebpf_syscalls = on, which EBPF_SYSCALLS sets).
#
# Usage (as root or as the postgres OS user):
#   test/bench/bench_cost_swap.sh
#   QUICK=1 test/bench/bench_cost_swap.sh   # a trial: 2 pairs of 5 s, scale 2
# Environment knobs (defaults in brackets):
#   RUNS [10]           pairs per workload and half
#   DURATION [10]       seconds per pgbench run
#   SCALE [10], PGBENCH_CLIENTS [4], PGBENCH_THREADS [2]
#   WARMUP [5]          seconds of pgbench -S per side after each (re)start
#   COST_WORKLOADS ["connect select_only write"]
#   EBPF_SYSCALLS []    on/off: pg_postmaster_stats.ebpf_syscalls on the
#                       with side (empty: the default)
#   BASELINE_PRELOAD [] a library the without side preloads (e.g.
#                       pps_test_fatfork, which does nothing with its
#                       default size_mb = 0): then "ours" is what we cost
#                       beyond any preloaded library
#   PGBIN [/usr/lib/postgresql/15/bin], KEEP_WORK [0]
# Output: log lines on stderr; per half and workload a line of figures;
# then per workload: RESULT<TAB>cost_swap_<workload><TAB><ours µs/tx><TAB>
# <without µs/tx><TAB><ratio without / (without + ours)>
#
set -euo pipefail

BENCH_NAME=bench_cost_swap
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

cost_knobs 10 10
: "${PGBENCH_CLIENTS:=4}" "${PGBENCH_THREADS:=2}" "${BASELINE_PRELOAD:=}"
COST_WORKLOADS=${COST_WORKLOADS:-"connect select_only write"}
MAX_CONNECTIONS=100
cost_settings

bench_setup

# preload NAME PORT LIBRARY: restart cluster NAME with that preload ('' for none)
preload() {
	local name=$1 port=$2 lib=$3
	if [[ -n $lib ]]; then
		q "$port" "ALTER SYSTEM SET shared_preload_libraries = '$lib'" >/dev/null
	else
		q "$port" "ALTER SYSTEM RESET shared_preload_libraries" >/dev/null
	fi
	as_pg "$PGBIN/pg_ctl" -D "$WORK/$name" -l "$WORK/$name.log" -m fast -w -t 120 restart >/dev/null ||
		die "could not restart cluster $name"
	[[ $(q "$port" "SHOW shared_preload_libraries") == "$lib" ]] ||
		die "cluster $name does not preload '$lib'"
}

# measure NAME PORT PGBENCH_ARGS...: RUN_CPU_US, server CPU per transaction
measure() {
	local name=$1 port=$2 n0 c0 c1
	shift 2
	q "$port" "CHECKPOINT" >/dev/null
	n0=$(cluster_children "$WORK/$name")
	c0=$(cluster_cpu_ticks "$WORK/$name")
	pgbench_once "$port" "$@"
	[[ -n $PGB_TX && $PGB_TX -gt 0 ]] || die "no transactions in pgbench output"
	wait_reaped "$WORK/$name" "$n0"
	c1=$(cluster_cpu_ticks "$WORK/$name")
	RUN_CPU_US=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v tx="$PGB_TX" \
		'BEGIN { printf "%.2f", c * 1e6 / hz / tx }')
}

# mean_sd VALUE...: "mean sd" of the values
mean_sd() {
	printf '%s\n' "$@" | awk '{ s += $1; ss += $1 * $1; n++ }
		END { m = s / n; v = n > 1 ? (ss - n * m * m) / (n - 1) : 0;
			  printf "%.2f %.2f\n", m, (v > 0 ? sqrt(v) : 0) }'
}

declare -A DIFF_MEAN DIFF_SD WITHOUT_MED
# half H WITH_NAME WITH_PORT WITHOUT_NAME WITHOUT_PORT
half() {
	local h=$1 wn=$2 wp=$3 nn=$4 np=$5 w args r side
	log "half $h: $wn preloads pg_postmaster_stats, $nn ${BASELINE_PRELOAD:-nothing}"
	preload "$wn" "$wp" pg_postmaster_stats
	preload "$nn" "$np" "$BASELINE_PRELOAD"
	wait_source "$wp" ebpf t
	wait_source "$wp" snapshot_probe t
	for side in "$wn:$wp" "$nn:$np"; do
		DURATION=$WARMUP measure "${side%%:*}" "${side##*:}" -S
	done
	for w in $COST_WORKLOADS; do
		cost_workload_args "$w"
		args=("${WORKLOAD_ARGS[@]}")
		local -a cw=() cn=() d=()
		for ((r = 1; r <= RUNS; r++)); do
			local order=(with without) cpu_w cpu_n
			((r % 2 == 0)) && order=(without with)
			for side in "${order[@]}"; do
				if [[ $side == with ]]; then
					measure "$wn" "$wp" "${args[@]}"
					cpu_w=$RUN_CPU_US
				else
					measure "$nn" "$np" "${args[@]}"
					cpu_n=$RUN_CPU_US
				fi
			done
			cw+=("$cpu_w") cn+=("$cpu_n")
			d+=("$(awk -v a="$cpu_w" -v b="$cpu_n" 'BEGIN { printf "%.2f", a - b }')")
			log "half $h $w pair $r/$RUNS with($wn)=$cpu_w without($nn)=$cpu_n µs/tx"
		done
		read -r DIFF_MEAN[$h,$w] DIFF_SD[$h,$w] <<<"$(mean_sd "${d[@]}")"
		WITHOUT_MED[$h,$w]=$(median_fmt %.2f "${cn[@]}")
		emit "half=$h workload=$w with=$wn without=$nn with_median_us=$(median_fmt %.2f "${cw[@]}")" \
			"without_median_us=${WITHOUT_MED[$h,$w]} paired_diff_mean_us=${DIFF_MEAN[$h,$w]}" \
			"sd=${DIFF_SD[$h,$w]} pairs=$RUNS diffs=$(join_by , "${d[@]}")"
	done
}

pair_ports a b
make_cluster a "$PORT_A" no "${SETTINGS[@]}"
make_cluster b "$PORT_B" no "${SETTINGS[@]}"
# the extension in both, so that their catalogs match
for c in "a:$PORT_A" "b:$PORT_B"; do
	preload "${c%%:*}" "${c##*:}" pg_postmaster_stats
	q "${c##*:}" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
	pgbench_init "${c##*:}"
	# the catalogs CREATE EXTENSION grew, analyzed now rather than by an
	# autovacuum worker inside a measured run
	q "${c##*:}" "VACUUM ANALYZE" >/dev/null
	q "${c##*:}" "CHECKPOINT" >/dev/null
done

half 1 a "$PORT_A" b "$PORT_B"
half 2 b "$PORT_B" a "$PORT_A"

declare -a RESULTS=()
for w in $COST_WORKLOADS; do
	read -r ours se cl base ratio <<<"$(awk -v d1="${DIFF_MEAN[1,$w]}" -v d2="${DIFF_MEAN[2,$w]}" \
		-v s1="${DIFF_SD[1,$w]}" -v s2="${DIFF_SD[2,$w]}" -v n="$RUNS" \
		-v b1="${WITHOUT_MED[1,$w]}" -v b2="${WITHOUT_MED[2,$w]}" 'BEGIN {
			ours = (d1 + d2) / 2; se = sqrt(s1 * s1 / n + s2 * s2 / n) / 2
			base = (b1 + b2) / 2
			printf "%.2f %.2f %.2f %.2f %.3f\n", ours, se, (d1 - d2) / 2, base, base / (base + ours) }')"
	emit "ours workload=$w ours_us_per_tx=$ours standard_error_us=$se" \
		"clusters_a_minus_b_us=$cl without_us_per_tx=$base cpu_ratio=$ratio"
	RESULTS+=("$(printf 'RESULT\tcost_swap_%s\t%s ± %s µs/tx (clusters A-B %s)\t%s µs/tx\tratio %s' \
		"$w" "$ours" "$se" "$cl" "$base" "$ratio")")
done

print_summary
print_identity "server $("$PGBIN/postgres" --version) pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS scale=$SCALE baseline_preload=${BASELINE_PRELOAD:-none}" \
	"settings $(join_by ';' "${SETTINGS[@]}")"
load_line
printf '%s\n' "${RESULTS[@]}"
