#!/usr/bin/env bash
#
# bench_attribution.sh - what attributing connections and parallel workers
# to their source costs (issue 17, "Hot path").
#
# This is a benchmark: it prints figures and a verdict against the issue's
# target (under 2 us of server CPU per connection, no measurable change of
# the storm rate), and never fails on it.
#
# One cluster with pg_postmaster_stats preloaded and created (max_clients
# and max_parallel_queries at their defaults), measured alternately with
# pg_postmaster_stats.attribution on (the authentication hook counts each
# connection under its client, the session-end callback adds its lifetime)
# and off (the hooks skip the attribution after one test), switched by a
# reload between runs.  Everything else of the extension runs in both, and
# one cluster leaves out what differs between two clusters (a first version
# compared a cluster with max_clients = 0 against one with the default, and
# the two clusters differed by more than the hook's work can be).
#
# Workload: an 8-client pgbench -C storm (a new connection per transaction,
# SELECT 1): every transaction is one connection, so server CPU per
# transaction is server CPU per connection.  RUNS rounds, each one run per
# side back to back, in the order on,off then off,on (A,B,B,A,...).  Server
# CPU is the whole cluster's from /proc (the postmaster, the reaped
# backends, the workers), as bench_cost.sh measures it.
#
# Usage (as root, or as the postgres OS user):
#   test/bench/bench_attribution.sh
#   QUICK=1 test/bench/bench_attribution.sh    # 4 rounds of 5 s
# Environment knobs (defaults in brackets):
#   RUNS [10]        rounds (one run per side each)
#   DURATION [10]    seconds per pgbench run
#   CLIENTS [8], THREADS [2]   pgbench -c, -j
#   CLIENT_HOST [socket dir]   where pgbench connects (or 127.0.0.1)
#   PGBIN [/usr/lib/postgresql/15/bin], KEEP_WORK [0]
# Output: log lines on stderr; figures on stdout; at the end
#   RESULT<TAB>attribution_cpu_us_per_connection<TAB><on - off><TAB><verdict>
# (difference of the medians of server CPU per connection; the per-run
# figures are printed too, as the noise of a shared machine is larger)
#
set -euo pipefail

BENCH_NAME=bench_attribution
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

knob RUNS 4 10
knob DURATION 5 10
PGBENCH_CLIENTS=${CLIENTS:-8}
PGBENCH_THREADS=${THREADS:-2}
TARGET_US=2
MAX_CONNECTIONS=100

bench_setup

PORT=$(pick_port 56432)
CLIENT_HOST=${CLIENT_HOST:-$WORK}
make_cluster attrib "$PORT" yes
q "$PORT" "CREATE EXTENSION pg_postmaster_stats" >/dev/null

# switch, then check from a new connection that new backends see it
attribution() {
	set_reload "$PORT" pg_postmaster_stats.attribution "$1"
	local deadline=$((SECONDS + 10))
	until [[ $(q "$PORT" "SHOW pg_postmaster_stats.attribution") == "$1" ]]; do
		((SECONDS < deadline)) || die "pg_postmaster_stats.attribution did not become $1"
		sleep 0.1
	done
}
prep_on() { attribution on; AB_PORT=$PORT AB_DATADIR=$WORK/attrib; }
prep_off() { attribution off; AB_PORT=$PORT AB_DATADIR=$WORK/attrib; }
AB_CPU=1 AB_PAIRED=1 compare_tps storm on off -C -f "$REPO_DIR/test/workloads/select1.sql"

DIFF=$(awk -v a="$CMP_TOTAL_US_A" -v b="$CMP_TOTAL_US_B" 'BEGIN { printf "%.2f", a - b }')
SRV_LINE=$(printf '%s\n' "${SUMMARY[@]}" | grep '^cpu_per_tx workload=storm')
SRV_ON=$(sed -E 's/.* on_server_us=([0-9.]+).*/\1/' <<<"$SRV_LINE")
SRV_OFF=$(sed -E 's/.* off_server_us=([0-9.]+).*/\1/' <<<"$SRV_LINE")
SRV_DIFF=$(awk -v a="$SRV_ON" -v b="$SRV_OFF" 'BEGIN { printf "%.2f", a - b }')
# the difference within each round (on and off back to back), and its median
RUNS_ON=$(sed -E 's/.* on_server_runs=([0-9.,]+).*/\1/' <<<"$SRV_LINE")
RUNS_OFF=$(sed -E 's/.* off_server_runs=([0-9.,]+).*/\1/' <<<"$SRV_LINE")
mapfile -t PAIRED < <(awk -v a="$RUNS_ON" -v b="$RUNS_OFF" 'BEGIN {
	n = split(a, x, ","); split(b, y, ",")
	for (i = 1; i <= n; i++) printf "%.2f\n", x[i] - y[i] }')
emit "attribution server_cpu_us_per_connection on=$SRV_ON off=$SRV_OFF difference=$SRV_DIFF" \
	"paired_difference_median=$(median_fmt %.2f "${PAIRED[@]}") paired_differences=$(join_by , "${PAIRED[@]}")" \
	"total_cpu_difference=$DIFF storm_tps_ratio=$(ratio "$CMP_TPS_A" "$CMP_TPS_B")"
emit "clients $(q "$PORT" "SELECT count(*) || ' rows, connections ' || sum(connections_total) FROM pg_postmaster_stats_clients")"

print_summary
print_identity "server $("$PGBIN/postgres" --version) max_connections=$MAX_CONNECTIONS pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")"
load_line
VERDICT=$(awk -v d="$SRV_DIFF" -v t="$TARGET_US" 'BEGIN { print (d < t ? "under_target" : "over_target") }')
printf 'RESULT\tattribution_cpu_us_per_connection\t%s\t%s\n' "$SRV_DIFF" "$VERDICT"
