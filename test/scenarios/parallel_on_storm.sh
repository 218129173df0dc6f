#!/usr/bin/env bash
#
# parallel_on_storm.sh - the article's combination: a connection storm plus
# parallel-query churn.  Does the extension show the connection rate drop,
# and that the extra forks are parallel workers?  (issue 9, scenario 2)
#
# One cluster; test/workloads/storm.sh run alternately without its parallel
# sessions (the storm alone) and with them (every query of the parallel
# sessions launches parallel workers: a fork and a reap per worker).  Per
# run, from our views: connections_per_s, forks_per_s, postmaster CPU
# (history medians over the run), and the counters' deltas over the run:
# forks_total, parallel_workers_launched_total and the exits by class from
# pg_postmaster_stats_children (eBPF: a child's class is known when it
# exits).  Independently: the connection rate pgbench measured on the
# client side, and the parallel churn's transactions (each asks for
# 20 queries x PAR_WORKERS workers).
#
# Usage (as root): test/scenarios/parallel_on_storm.sh
# Environment (defaults; QUICK=1 in brackets):
#   PAR_ROUNDS [2] [1]     alternations of storm alone / storm + parallel
#   PAR_SECONDS [15] [8]   seconds per run
#   PAR_CONN [8]           connection churn clients (storm.sh -C)
#   PAR_SESSIONS [2]       parallel churn sessions (storm.sh -P)
#   PAR_WORKERS [2]        parallel workers per query (storm.sh -w)
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob PAR_ROUNDS 1 2
knob PAR_SECONDS 8 15
PAR_CONN=${PAR_CONN:-8}
PAR_SESSIONS=${PAR_SESSIONS:-2}
PAR_WORKERS=${PAR_WORKERS:-2}
MAX_CONNECTIONS=50

scen_start parallel_on_storm
PORT=$(pick_port "$SCEN_BASE_PORT")
# room for the parallel workers next to our two workers and the launcher
scen_cluster par "$PORT" "max_worker_processes = 16" "max_parallel_workers = 8"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT" -U postgres -d postgres \
	-c "SET client_min_messages = warning" -f "$WORKLOADS/parallel_churn.sql" -c "SELECT pps_churn_setup()" >/dev/null
q "$PORT" "CHECKPOINT" >/dev/null
BASE_CHILDREN=$(cluster_children "$WORK/par")

COUNTERS="SELECT s.forks_total, s.parallel_workers_launched_total,
	(SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'client backend'),
	(SELECT exits_total FROM pg_postmaster_stats_children WHERE backend_type = 'parallel worker')
	FROM pg_postmaster_stats s"

# run_side SIDE PAR: one storm; appends its figures to the SIDE's arrays
run_side() {
	local side=$1 par=$2 out=$WORK/storm_$1.log t0 t1 a b
	wait_samples "$PORT" 1
	a=$(q "$PORT" "$COUNTERS")
	t0=$(now_ts)
	PATH=$PGBIN:$PATH "$WORKLOADS/storm.sh" -C "$PAR_CONN" -P "$par" -w "$PAR_WORKERS" -T "$PAR_SECONDS" \
		-- -h "$CLIENT_HOST" -p "$PORT" -U postgres postgres >"$out" 2>&1 ||
		{ cat "$out" >&2; die "storm.sh failed"; }
	t1=$(now_ts)
	if [[ $side == combined ]]; then COMBINED_DIAG=$(diagnosis "$PORT" "$t0" "$t1"); fi
	# everything it started has exited and been reaped, and a sample has
	# folded the eBPF counts
	wait_children par "$BASE_CHILDREN"
	wait_samples "$PORT" 2
	b=$(q "$PORT" "$COUNTERS")
	local -a x y m
	IFS='|' read -r -a x <<<"$a"
	IFS='|' read -r -a y <<<"$b"
	# history medians from 2 s in (the first interval still holds quiet time)
	IFS='|' read -r -a m <<<"$(hist "$PORT" "$(date -d "$t0 + 2 seconds" '+%Y-%m-%d %H:%M:%S.%6N%z')" "$t1" "
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY connections_per_s)::numeric, 1),
		coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY forks_per_s)::numeric, 1)::text, 'n/a'),
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY postmaster_cpu_pct)::numeric, 1),
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY parallel_workers_launched_per_s)::numeric, 1)")"
	local conn_tps par_tx
	conn_tps=$(awk '/^== connection/ { c = 1 } /^== parallel/ { c = 0 } c && /^tps/ { printf "%.1f", $3; exit }' "$out")
	par_tx=$(awk '/^== parallel/ { c = 1 } c && /actually processed/ { print $NF; exit }' "$out")
	eval "${side}_rate+=(${m[0]}) ${side}_forks_s+=(${m[1]}) ${side}_cpu+=(${m[2]}) ${side}_launched_s+=(${m[3]})"
	eval "${side}_tps+=(${conn_tps:-0}) ${side}_par_tx+=(${par_tx:-0})"
	eval "${side}_forks+=($((${y[0]:-0} - ${x[0]:-0}))) ${side}_launched+=($((y[1] - x[1])))"
	eval "${side}_cb_exits+=($((${y[2]:-0} - ${x[2]:-0}))) ${side}_pw_exits+=($((${y[3]:-0} - ${x[3]:-0})))"
	log "$side: ${m[*]} (conn/s forks/s cpu% launched/s), pgbench conn ${conn_tps} tps, parallel ${par_tx:-no} transactions, counters $a -> $b"
}

alone_rate=() alone_forks_s=() alone_cpu=() alone_launched_s=() alone_tps=() alone_par_tx=()
alone_forks=() alone_launched=() alone_cb_exits=() alone_pw_exits=()
combined_rate=() combined_forks_s=() combined_cpu=() combined_launched_s=() combined_tps=() combined_par_tx=()
combined_forks=() combined_launched=() combined_cb_exits=() combined_pw_exits=()
COMBINED_DIAG=""
for ((r = 1; r <= PAR_ROUNDS; r++)); do
	# alternate the order: a trend in the machine's load favours neither
	if ((r % 2)); then
		run_side alone 0
		run_side combined "$PAR_SESSIONS"
	else
		run_side combined "$PAR_SESSIONS"
		run_side alone 0
	fi
done

sum() { awk '{ s += $1 } END { print s + 0 }' < <(printf '%s\n' "$@"); }
ar=$(median "${alone_rate[@]}") cr=$(median "${combined_rate[@]}")
at=$(median "${alone_tps[@]}") ct=$(median "${combined_tps[@]}")
af=$(median "${alone_forks_s[@]}") cf=$(median "${combined_forks_s[@]}")
forks=$(sum "${combined_forks[@]}") pw=$(sum "${combined_pw_exits[@]}") cb=$(sum "${combined_cb_exits[@]}")
launched=$(sum "${combined_launched[@]}")
# each parallel churn transaction runs 20 queries of PAR_WORKERS workers;
# pgbench counts completed transactions only, so the ones cut by -T make
# this a lower bound
asked=$(($(sum "${combined_par_tx[@]}") * 20 * PAR_WORKERS))
result "storm alone -> with parallel churn: $ar -> $cr conn/s; forks $af -> $cf /s; postmaster CPU $(median "${alone_cpu[@]}") -> $(median "${combined_cpu[@]}") %; parallel workers launched $(median "${combined_launched_s[@]}")/s" \
	"pgbench connection rate $at -> $ct conn/s ($(reldiff "$ct" "$at") %)" \
	"with parallel churn the connection rate is $(ratio "$cr" "$ar")x the storm alone's (pgbench: $(ratio "$ct" "$at")x); diagnosis of the last storm with parallel churn: $COMBINED_DIAG"
if [[ $EBPF == t ]]; then
	result "with parallel churn: $forks forks, exits by class: $pw parallel worker + $cb client backend; parallel_workers_launched_total +$launched" \
		"parallel churn: at least $asked workers asked for (pgbench's completed transactions x 20 queries x $PAR_WORKERS); storm alone: $(sum "${alone_pw_exits[@]}") parallel worker exits" \
		"$(pct "$pw" "$forks") % of the forks were parallel workers ($(if [[ $pw == "$launched" ]]; then echo "exits = launched exactly"; else echo "exits $pw vs launched $launched"; fi)); the postmaster spent them instead of connections"
else
	result "with parallel churn: parallel_workers_launched_total +$launched (eBPF inactive: $EBPF_DETAIL)" \
		"at least $asked workers asked for" "forks by class unavailable without eBPF"
fi
