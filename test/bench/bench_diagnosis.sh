#!/bin/bash
# What a diagnosis costs: SELECT * FROM pg_postmaster_stats_diagnosis (the
# last minute) and pg_postmaster_stats_diagnose('1 hour') over a full
# history of 3600 samples (the default history_size), each timed ROUNDS
# times in one psql session (\timing, server round trip included), on an
# idle server and while a pgbench -C storm keeps findings active (so their
# descriptions are built too).  Prints every time and the medians; the
# issue's target is under 5 ms.  No assertion.
#
# The history fills at FILL_INTERVAL (100 ms: 3600 samples in 6 minutes).
# Starts its own throwaway cluster (Unix socket only) and removes it; as
# root it runs it as the postgres OS user.  Settings: PG_BIN, ROUNDS (50).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ROUNDS=${ROUNDS:-50}
FILL_INTERVAL=${FILL_INTERVAL:-100ms}
OWNER=postgres
PORT=${PORT:-56499}

as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi; }

WORK=$(mktemp -d /tmp/pps-bench-diag.XXXXXX)
chmod 755 "$WORK"
if [ "$(id -u)" -eq 0 ]; then chown "$OWNER" "$WORK"; fi
STORM=
cleanup() {
	if [ -n "$STORM" ]; then kill "$STORM" 2>/dev/null || true; wait "$STORM" 2>/dev/null || true; fi
	as_owner "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

as_owner "$PG_BIN/initdb" -D "$WORK/data" -A trust >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_postmaster_stats'
listen_addresses = ''
port = $PORT
unix_socket_directories = '$WORK'
pg_postmaster_stats.sample_interval = $FILL_INTERVAL
pg_postmaster_stats.history_size = 3600
CONF
as_owner "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/log" -w start >/dev/null
psql_q() { "$PG_BIN/psql" -X -q -At -h "$WORK" -p "$PORT" -U "$OWNER" -d postgres "$@"; }
psql_q -c 'CREATE EXTENSION pg_postmaster_stats'

echo "# filling the history: 3600 samples at $FILL_INTERVAL" >&2
until [ "$(psql_q -c 'SELECT count(*) FROM pg_postmaster_stats_history')" -ge 3600 ]; do sleep 5; done

# times (ms) of ROUNDS runs of $1, one session
time_query() {
	local sql=$1
	{
		echo '\timing on'
		for ((i = 0; i < ROUNDS; i++)); do echo "SELECT count(*) FROM ($sql) d;"; done
	} | psql_q 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

report() {
	local label=$1 sql=$2 times
	times=$(time_query "$sql")
	printf '%-48s median %s ms over %d runs (min %s, max %s); findings: %s\n' "$label" \
		"$(echo "$times" | median)" "$ROUNDS" "$(echo "$times" | sort -n | head -1)" \
		"$(echo "$times" | sort -n | tail -1)" \
		"$(psql_q -c "SELECT coalesce(string_agg(finding, ','), 'none') FROM ($sql) d")"
}

echo "history: $(psql_q -c 'SELECT count(*) FROM pg_postmaster_stats_history') samples; $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"
report "idle: pg_postmaster_stats_diagnosis" "SELECT * FROM pg_postmaster_stats_diagnosis"
report "idle: pg_postmaster_stats_diagnose('1 hour')" "SELECT * FROM pg_postmaster_stats_diagnose('1 hour')"

echo 'SELECT 1;' >"$WORK/select1.sql"
chmod a+r "$WORK/select1.sql"
"$PG_BIN/pgbench" -n -C -c 4 -T 120 -h "$WORK" -p "$PORT" -U "$OWNER" -f "$WORK/select1.sql" postgres >/dev/null 2>&1 &
STORM=$!
sleep 15
report "storm: pg_postmaster_stats_diagnosis" "SELECT * FROM pg_postmaster_stats_diagnosis"
report "storm: pg_postmaster_stats_diagnose('1 hour')" "SELECT * FROM pg_postmaster_stats_diagnose('1 hour')"
