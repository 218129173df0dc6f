#!/bin/bash
# Demo: a throwaway cluster with pg_postmaster_stats preloaded, a short
# connection storm (pgbench -C), and the views printed while it runs.
#
# As root on a fresh Debian 12 machine this installs the packages, builds and
# installs the extension first.  The cluster runs as the postgres OS user on
# a Unix socket and 127.0.0.1 only, and is removed at the end.
#   DEMO_SECONDS (default 20)  length of the storm
#   DEMO_CLIENTS (default 8)   concurrent pgbench -C clients
#   PG_CONFIG                  the PostgreSQL to run on (any of 15 to 19)
#   PG_MAJOR (default 15)      without PG_CONFIG: 15 is Debian's package,
#                              16 to 19 are built from source as the test
#                              command does (test/lib/pg-build.sh)
set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
DEMO_PG_CONFIG=${PG_CONFIG:-}
. "$SRC_DIR/test/lib/install-deps.sh"
. "$SRC_DIR/test/lib/pg-build.sh"

DEMO_SECONDS=${DEMO_SECONDS:-20}
DEMO_CLIENTS=${DEMO_CLIENTS:-8}
PORT=${DEMO_PORT:-54329}

pps_install_packages
if [ -n "$DEMO_PG_CONFIG" ]; then
	PG_CONFIG=$DEMO_PG_CONFIG
else
	PG_CONFIG=$(pps_pg_config_for "$PG_MAJOR")
fi
PG_BIN=$("$PG_CONFIG" --bindir)
pps_build_install "$SRC_DIR"

DEMO_DIR=$(mktemp -d /tmp/pps-demo.XXXXXX)
if [ "$(id -u)" -eq 0 ]; then chown "${TEST_USER:-postgres}" "$DEMO_DIR"; fi
PGDATA=$DEMO_DIR/data

cleanup()
{
	pps_as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$DEMO_DIR"
}
trap cleanup EXIT

pps_step "starting a throwaway cluster on port $PORT with the extension preloaded"
pps_as_owner "$PG_BIN/initdb" -D "$PGDATA" -A trust >/dev/null
cat >>"$PGDATA/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_postmaster_stats'
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DEMO_DIR'
max_connections = 200
CONF
pps_as_owner "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$DEMO_DIR/server.log" -w start >/dev/null

psql_demo() { pps_as_owner "$PG_BIN/psql" -X -h "$DEMO_DIR" -p "$PORT" -d postgres "$@"; }
psql_demo -q -c 'CREATE EXTENSION pg_postmaster_stats'
echo 'SELECT 1;' >"$DEMO_DIR/select1.sql"
chmod a+r "$DEMO_DIR/select1.sql"

pps_step "sources"
psql_demo -c 'SELECT * FROM pg_postmaster_stats_sources'

pps_step "connection storm: pgbench -C -c $DEMO_CLIENTS for ${DEMO_SECONDS}s"
pps_as_owner "$PG_BIN/pgbench" -n -C -c "$DEMO_CLIENTS" -j 2 -T "$DEMO_SECONDS" \
	-h "$DEMO_DIR" -p "$PORT" -f "$DEMO_DIR/select1.sql" postgres >"$DEMO_DIR/pgbench.out" 2>&1 &
PGBENCH_PID=$!

for ((t = 5; t <= DEMO_SECONDS; t += 5)); do
	sleep 5
	pps_step "after ${t}s: the postmaster right now"
	psql_demo -c "SELECT sampled_at::time(0) AS at, round(postmaster_cpu_pct::numeric, 1) AS cpu_pct,
	                      accept_queue_depth AS queued, accept_queue_max AS queue_max,
	                      round(connections_per_s::numeric) AS conn_per_s,
	                      round((connection_setup_p99_seconds * 1000)::numeric, 2) AS setup_p99_ms,
	                      connections_total, postmaster_children AS children,
	                      pg_size_pretty(postmaster_pagetable_bytes) AS page_tables
	                 FROM pg_postmaster_stats"
done
wait "$PGBENCH_PID" || true

pps_step "pgbench said"
grep -E 'tps|transactions actually processed|latency average' "$DEMO_DIR/pgbench.out" || cat "$DEMO_DIR/pgbench.out"

pps_step "last 10 seconds of history"
psql_demo -c "SELECT \"time\"::time(1) AS time, round(postmaster_cpu_pct::numeric, 1) AS cpu_pct,
                      round(postmaster_cpu_system_pct::numeric, 1) AS sys_pct,
                      accept_queue_depth AS queued, round(connections_per_s::numeric) AS conn_per_s,
                      round((connection_setup_avg_seconds * 1000)::numeric, 2) AS setup_avg_ms,
                      client_backends, children_unregistered AS starting
                 FROM pg_postmaster_stats_history ORDER BY \"time\" DESC LIMIT 10"

pps_step "connection setup latency histogram (fork to authentication)"
psql_demo -c "SELECT le_seconds * 1000 AS le_ms, count FROM pg_postmaster_stats_latency
               WHERE metric = 'connection_setup' AND count > 0 ORDER BY le_seconds LIMIT 8"

pps_step "live children"
psql_demo -c "SELECT * FROM pg_postmaster_stats_children WHERE children > 0"

pps_step "diagnosis: what limited the server during the storm, since when, what to change"
psql_demo -x -c "SELECT finding, severity, since::time(0) AS since, samples, summary, remedy
                    FROM pg_postmaster_stats_diagnose('${DEMO_SECONDS} seconds'::interval + '10 seconds')"
