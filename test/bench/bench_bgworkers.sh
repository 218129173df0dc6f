#!/usr/bin/env bash
#
# bench_bgworkers.sh - what the background-worker source costs, and what the
# combined storm does to the postmaster (issue 4).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# What it measures:
#   1. The cost of the executor hook (ExecutorEnd_hook, run by every query)
#      on pgbench -S: TPS with the library preloaded vs not, on two clusters
#      with identical settings running side by side, alternating.  The
#      preloaded cluster runs with pg_postmaster_stats.ebpf = off here: the
#      eBPF programs hook every syscall of the machine, so they would tax
#      the other cluster as much as their own (bench_ebpf.sh measures them);
#      the sampler and the probe worker run as usual.  Next to TPS, the CPU
#      per transaction of each cluster (the extension's workers included)
#      and of cluster plus pgbench, from /proc: on this shared machine CPU
#      per transaction moves much less than throughput.
#      Throughput and CPU per transaction move by tens of percent between
#      runs on this shared machine, far more than the 0.5% in question, so
#      the hook's cost per executor run is also measured directly (a
#      PL/pgSQL loop of trivial queries, minimum of alternating calls) and
#      turned into the TPS ratio it implies for pgbench -S: the noext
#      cluster's CPU per transaction (server and pgbench) over itself plus
#      the hook's cost.
#   2. On the preloaded cluster, with eBPF on: the combined storm
#      (test/workloads/storm.sh: pgbench -C plus parallel-query churn)
#      against connection churn alone (the same storm without its parallel
#      sessions), alternating: medians over each run of the history's
#      postmaster_cpu_pct, forks_per_s (eBPF), bgworker_registrations_per_s,
#      connections_per_s and parallel_workers_launched_per_s, then the
#      median over the runs.
#
# Usage (as root or as the postgres OS user):
#   test/bench/bench_bgworkers.sh
# Environment knobs (defaults in brackets):
#   RUNS [10]            pgbench runs per cluster (part 1; short runs, many
#   DURATION [5]         seconds per pgbench run   alternations: the
#                        machine's other tenants come and go)
#   STORM_RUNS [5]       storms per side (part 2)
#   STORM_DURATION [10]  seconds per storm
#   SCALE [10]           pgbench -i scale factor
#   PGBENCH_CLIENTS [4]  pgbench -c (part 1)
#   PGBENCH_THREADS [2]  pgbench -j (part 1)
#   LOOPS [100000]       queries per executor-loop call
#   LOOP_RUNS [10]       executor-loop calls per cluster
#   STORM_CONN [8]       storm.sh -C: connection churn clients
#   STORM_PAR [2]        storm.sh -P: parallel churn sessions (combined side)
#   STORM_WORKERS [2]    storm.sh -w: parallel workers per query
#   CLIENT_HOST [socket dir]  where clients connect (or 127.0.0.1)
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]        1: keep the scratch directory (logs) afterwards
#
set -euo pipefail

BENCH_NAME=bench_bgworkers
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

pgbench_knobs 10 5
STORM_RUNS=${STORM_RUNS:-5}
STORM_DURATION=${STORM_DURATION:-10}
STORM_CONN=${STORM_CONN:-8}
STORM_PAR=${STORM_PAR:-2}
STORM_WORKERS=${STORM_WORKERS:-2}
LOOPS=${LOOPS:-100000}
LOOP_RUNS=${LOOP_RUNS:-10}
MAX_CONNECTIONS=100
# both clusters: room for the storm's parallel workers next to our two
# workers and the logical replication launcher
SETTINGS=("max_worker_processes = 16" "max_parallel_workers = 8")

bench_setup

pair_ports ext noext
make_cluster ext "$PORT_EXT" yes "${SETTINGS[@]}" "pg_postmaster_stats.ebpf = off"
make_cluster noext "$PORT_NOEXT" no "${SETTINGS[@]}"
q "$PORT_EXT" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
[[ $(q "$PORT_NOEXT" "SHOW shared_preload_libraries") == "" ]] ||
	die "noext cluster unexpectedly preloads a library"
INTERVAL_MS=$(q "$PORT_EXT" "SELECT setting FROM pg_settings WHERE name = 'pg_postmaster_stats.sample_interval'")

log "pgbench -i -s $SCALE on both clusters"
for port in "$PORT_EXT" "$PORT_NOEXT"; do
	pgbench_init "$port"
done

# --- 1. executor hook: TPS preloaded vs not ---------------------------------------

# the hook's source must be active (it is the thing measured), eBPF must not
prep_ext() {
	[[ $(source_active "$PORT_EXT" ebpf) == f ]] || die "ebpf source active on the ext cluster"
	AB_PORT=$PORT_EXT AB_DATADIR=$WORK/ext
}
prep_noext() { AB_PORT=$PORT_NOEXT AB_DATADIR=$WORK/noext; }
wait_source "$PORT_EXT" ebpf f
emit "ext_sources $(q "$PORT_EXT" "SELECT string_agg(source || '=' || active, ' ' ORDER BY source) FROM pg_postmaster_stats_sources")"
AB_PAIRED=1 AB_CPU=1
compare_tps select_only ext noext -S

# The hook's own cost per executor run, which throughput cannot resolve on
# this machine: one backend runs a PL/pgSQL loop of LOOPS trivial queries
# (each a full ExecutorStart/Run/End through SPI, so the hook runs once per
# iteration, as once per pgbench -S transaction) and returns the wall time
# per iteration.  Other tenants only ever add time, so the minimum over
# alternating calls is the estimate; the median is printed too.
LOOP_FN="CREATE FUNCTION pps_bench_executor_loop(n integer) RETURNS float8
	LANGUAGE plpgsql AS \$\$
	DECLARE t0 timestamptz := clock_timestamp();
	BEGIN
		FOR i IN 1..n LOOP
			PERFORM 1 FROM pgbench_branches WHERE bid = 1;
		END LOOP;
		RETURN extract(epoch FROM clock_timestamp() - t0) * 1e9 / n;
	END \$\$"
q "$PORT_EXT" "$LOOP_FN" >/dev/null
q "$PORT_NOEXT" "$LOOP_FN" >/dev/null
L_ext=() L_noext=()
for ((r = 1; r <= LOOP_RUNS; r++)); do
	for side in $( ((r % 2)) && echo ext noext || echo noext ext); do
		port=$PORT_EXT
		[[ $side == noext ]] && port=$PORT_NOEXT
		v=$(q "$port" "SELECT round(pps_bench_executor_loop($LOOPS)::numeric, 1)")
		eval "L_$side+=(\"\$v\")"
		log "executor loop run $r/$LOOP_RUNS $side ns=$v"
	done
done
l_ext_min=$(printf '%s\n' "${L_ext[@]}" | sort -g | head -n 1)
l_noext_min=$(printf '%s\n' "${L_noext[@]}" | sort -g | head -n 1)
hook_ns=$(awk -v a="$l_ext_min" -v b="$l_noext_min" 'BEGIN { printf "%.1f", a - b }')
emit "executor_loop_ns loops=$LOOPS runs=$LOOP_RUNS ext_min=$l_ext_min noext_min=$l_noext_min ext_median=$(median "${L_ext[@]}") noext_median=$(median "${L_noext[@]}")" \
	"hook_ns_per_executor_run=$hook_ns" \
	"implied_select_only_ratio=$(awk -v d="$hook_ns" -v t="$CMP_TOTAL_US_B" 'BEGIN { d = d < 0 ? 0 : d; printf "%.4f", t * 1000 / (t * 1000 + d) }')" \
	"ext_runs=$(join_by , "${L_ext[@]}") noext_runs=$(join_by , "${L_noext[@]}")"

# the second cluster is not needed any more: one less thing on the machine
stop_cluster noext

# --- 2. combined storm vs connection churn alone ------------------------------------

set_reload "$PORT_EXT" pg_postmaster_stats.ebpf on
wait_source "$PORT_EXT" ebpf t
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PORT_EXT" -U postgres -d postgres \
	-f "$WORKLOADS/parallel_churn.sql" -c "SELECT pps_churn_setup()" >/dev/null
q "$PORT_EXT" "CHECKPOINT" >/dev/null

METRICS=(postmaster_cpu_pct forks_per_s bgworker_registrations_per_s connections_per_s parallel_workers_launched_per_s)

# run_storm SIDE PAR: one storm; appends the run's history medians to
# M_<SIDE>_<metric> and its tps to TPS_<SIDE>_conn / TPS_<SIDE>_par
run_storm() {
	local side=$1 par=$2 out=$WORK/storm_$1.log t0 t1 m vals i
	[[ $(source_active "$PORT_EXT" ebpf) == t ]] || die "ebpf source not active before the storm"
	# parallel_churn.sh leaves its /tmp/pps-churn.*.sql behind (its EXIT
	# trap is lost when it execs pgbench): remove the ones this storm made
	local before
	before=$(ls /tmp/pps-churn.*.sql 2>/dev/null || true)
	t0=$(q "$PORT_EXT" "SELECT clock_timestamp()")
	PATH=$PGBIN:$PATH "$WORKLOADS/storm.sh" -C "$STORM_CONN" -P "$par" -w "$STORM_WORKERS" -T "$STORM_DURATION" \
		-- -h "$CLIENT_HOST" -p "$PORT_EXT" -U postgres postgres >"$out" 2>&1 ||
		{ cat "$out" >&2; die "storm.sh failed"; }
	t1=$(q "$PORT_EXT" "SELECT clock_timestamp()")
	local f
	for f in /tmp/pps-churn.*.sql; do
		[[ -O $f ]] && ! grep -qxF "$f" <<<"$before" &&
			grep -qxF "SELECT pps_parallel_churn(20, $STORM_WORKERS);" "$f" && rm -f "$f"
	done
	# the samples fully inside the storm: from 2 s after its start (the
	# first interval still has the quiet time before it) to its end
	IFS='|' read -r -a vals <<<"$(q "$PORT_EXT" "
		SELECT $(for m in "${METRICS[@]}"; do printf "round(percentile_cont(0.5) WITHIN GROUP (ORDER BY %s)::numeric, 1), " "$m"; done) count(*)
		FROM pg_postmaster_stats_history
		WHERE \"time\" > timestamptz '$t0' + interval '2 s' AND \"time\" <= '$t1'")"
	for ((i = 0; i < ${#METRICS[@]}; i++)); do
		eval "M_${side}_${METRICS[i]}+=(\"\${vals[i]}\")"
	done
	eval "N_${side}+=(\"\${vals[${#METRICS[@]}]}\")"
	# "== connection churn" then its tps line, "== parallel churn" then its
	eval "TPS_${side}_conn+=(\"$(awk '/^== connection/ { c = 1 } /^== parallel/ { c = 0 } c && /^tps/ { print $3; exit }' "$out")\")"
	eval "TPS_${side}_par+=(\"$(awk '/^== parallel/ { c = 1 } c && /^tps/ { print $3; exit }' "$out")\")"
	log "storm run $side: $(join_by ' ' "${vals[@]}") (${METRICS[*]} samples)"
}

for m in "${METRICS[@]}"; do
	eval "M_combined_$m=(); M_churn_$m=()"
done
N_combined=() N_churn=() TPS_combined_conn=() TPS_combined_par=() TPS_churn_conn=() TPS_churn_par=()
for ((r = 1; r <= STORM_RUNS; r++)); do
	if ((r % 2)); then
		run_storm combined "$STORM_PAR"
		run_storm churn 0
	else
		run_storm churn 0
		run_storm combined "$STORM_PAR"
	fi
done

for side in combined churn; do
	line="storm side=$side"
	for m in "${METRICS[@]}"; do
		eval "vals=(\"\${M_${side}_${m}[@]}\")"
		line+=" ${m}_median=$(median "${vals[@]}")"
	done
	eval "n=(\"\${N_${side}[@]}\"); tc=(\"\${TPS_${side}_conn[@]}\"); tp=(\"\${TPS_${side}_par[@]}\")"
	line+=" conn_tps_median=$(median "${tc[@]}")"
	[[ $side == combined ]] && line+=" parallel_tps_median=$(median "${tp[@]}")"
	emit "$line samples_per_run=$(join_by , "${n[@]}")"
	for m in postmaster_cpu_pct forks_per_s; do
		eval "vals=(\"\${M_${side}_${m}[@]}\")"
		emit "  $side ${m}_runs=$(join_by , "${vals[@]}")"
	done
done
line="storm combined_vs_churn"
for m in postmaster_cpu_pct forks_per_s connections_per_s; do
	eval "a=(\"\${M_combined_${m}[@]}\"); b=(\"\${M_churn_${m}[@]}\")"
	line+=" ${m}_ratio=$(ratio "$(median "${a[@]}")" "$(median "${b[@]}")")"
done
emit "$line"

# --- summary -----------------------------------------------------------------------
print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS max_worker_processes=16 max_parallel_workers=8 pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS scale=$SCALE storm_C=$STORM_CONN storm_P=$STORM_PAR storm_w=$STORM_WORKERS storm_T=$STORM_DURATION storm_runs=$STORM_RUNS client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")"
