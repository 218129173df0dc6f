#!/bin/bash
# Makes docs/dashboard.png: the Grafana dashboard's SQL panels over a real
# server's history.  Starts a throwaway cluster with the extension (Unix
# socket only), runs a scripted minute (idle, a connection storm with the
# postmaster stopped for 2 s so the accept queue fills, parallel-query
# churn, a storm with parallel churn, idle), draws the panels with
# render-dashboard.pl and photographs the page with headless Chromium
# (apt-get install chromium).  As root, the cluster runs as postgres.
#   PG_BIN=/usr/lib/postgresql/15/bin bash docs/render-dashboard.sh [out.png]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
OUT=${1:-$HERE/dashboard.png}
CHROMIUM=${CHROMIUM:-chromium}
OWNER=postgres
command -v "$CHROMIUM" >/dev/null || { echo "needs $CHROMIUM: apt-get install chromium" >&2; exit 1; }

as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi; }
free_port()
{
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
	exit 1
}

WORK=$(mktemp -d /tmp/pps-render.XXXXXX)
chmod 755 "$WORK"
if [ "$(id -u)" -eq 0 ]; then chown "$OWNER" "$WORK"; fi
export PGHOST=$WORK PGPORT=$(free_port) PGDATABASE=postgres PATH=$PG_BIN:$PATH
cleanup()
{
	as_owner pg_ctl -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

as_owner initdb -D "$WORK/data" -A trust >/dev/null
cat >>"$WORK/data/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_postmaster_stats'
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $PGPORT
max_worker_processes = 12
max_parallel_workers = 8
EOF
as_owner pg_ctl -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null
as_owner psql -qX -c 'CREATE EXTENSION pg_postmaster_stats' \
	-c 'CREATE ROLE pps_grafana LOGIN IN ROLE pg_monitor' \
	-f "$REPO/test/workloads/parallel_churn.sql" -c 'SELECT pps_churn_setup()' >/dev/null
PM_PID=$(head -1 "$WORK/data/postmaster.pid")
W=$REPO/test/workloads

FROM=$(date +%s)
echo "recording a scripted minute..."
sleep 8
as_owner pgbench -n -C -c 8 -j 2 -T 16 -f "$W/select1.sql" >/dev/null 2>&1 &
sleep 5
kill -STOP "$PM_PID"    # new clients queue in the listen backlog
for _ in $(seq 30); do as_owner psql -qX -c 'SELECT 1' >/dev/null 2>&1 & done
sleep 2
kill -CONT "$PM_PID"
wait
sleep 4
as_owner bash "$W/parallel_churn.sh" -c 4 -i 20 -w 4 -T 10 >/dev/null 2>&1
sleep 4
as_owner bash "$W/storm.sh" -C 8 -P 2 -w 3 -T 12 >/dev/null 2>&1
sleep 8
TO=$(date +%s)

panels=$(perl "$HERE/render-dashboard.pl" "$FROM" "$TO" 1s "$WORK/dashboard.html" -- -U pps_grafana)
# a header, then rows of four 250-pixel panels
height=$((80 + (panels + 3) / 4 * 250))
chmod 644 "$WORK/dashboard.html"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
	--disable-component-update --disable-sync --no-first-run --hide-scrollbars \
	--user-data-dir="$WORK/chromium" --screenshot="$OUT" --window-size=1420,"$height" \
	"file://$WORK/dashboard.html" 2>/dev/null
echo "wrote $OUT"
