#!/usr/bin/env bash
#
# bench_attribution.sh - what attributing connections and parallel workers
# to their source costs (issue 17, "Hot path").
#
# This is a benchmark: it prints figures and a verdict against the issue's
# target (under 2 us of server CPU per connection, no measurable change of
# the storm rate), and never fails on it.
#
# Two clusters side by side, both with pg_postmaster_stats preloaded and
# created, identical but for the attribution tables:
#   on   pg_postmaster_stats.max_clients = 1000, max_parallel_queries = 500
#        (the defaults): the authentication hook counts each connection
#        under its client, the session-end callback adds its lifetime;
#   off  both 0: no table, the hooks skip the attribution after one test.
# Everything else of the extension runs on both, so the difference is the
# attribution alone.
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

pair_ports on off
make_cluster on "$PORT_ON" yes "pg_postmaster_stats.max_clients = 1000" \
	"pg_postmaster_stats.max_parallel_queries = 500"
make_cluster off "$PORT_OFF" yes "pg_postmaster_stats.max_clients = 0" \
	"pg_postmaster_stats.max_parallel_queries = 0"
for port in "$PORT_ON" "$PORT_OFF"; do
	q "$port" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
done
[[ $(q "$PORT_OFF" "SELECT clients_dealloc_total IS NULL FROM pg_postmaster_stats") == t ]] ||
	die "the off cluster has a clients table"

prep_on() { AB_PORT=$PORT_ON AB_DATADIR=$WORK/on; }
prep_off() { AB_PORT=$PORT_OFF AB_DATADIR=$WORK/off; }
AB_CPU=1 AB_PAIRED=1 compare_tps storm on off -C -f "$REPO_DIR/test/workloads/select1.sql"

# the paired difference of server CPU per connection would need the runs;
# the difference of the medians is what the target is stated in
DIFF=$(awk -v a="$CMP_TOTAL_US_A" -v b="$CMP_TOTAL_US_B" 'BEGIN { printf "%.2f", a - b }')
SRV_LINE=$(printf '%s\n' "${SUMMARY[@]}" | grep '^cpu_per_tx workload=storm')
SRV_ON=$(sed -E 's/.* on_server_us=([0-9.]+).*/\1/' <<<"$SRV_LINE")
SRV_OFF=$(sed -E 's/.* off_server_us=([0-9.]+).*/\1/' <<<"$SRV_LINE")
SRV_DIFF=$(awk -v a="$SRV_ON" -v b="$SRV_OFF" 'BEGIN { printf "%.2f", a - b }')
emit "attribution server_cpu_us_per_connection on=$SRV_ON off=$SRV_OFF difference=$SRV_DIFF" \
	"total_cpu_difference=$DIFF storm_tps_ratio=$(ratio "$CMP_TPS_A" "$CMP_TPS_B")"
emit "clients_on $(q "$PORT_ON" "SELECT count(*) || ' rows, connections ' || sum(connections_total) FROM pg_postmaster_stats_clients")"

print_summary
print_identity "server $("$PGBIN/postgres" --version) max_connections=$MAX_CONNECTIONS pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")"
load_line
VERDICT=$(awk -v d="$SRV_DIFF" -v t="$TARGET_US" 'BEGIN { print (d < t ? "under_target" : "over_target") }')
printf 'RESULT\tattribution_cpu_us_per_connection\t%s\t%s\n' "$SRV_DIFF" "$VERDICT"
