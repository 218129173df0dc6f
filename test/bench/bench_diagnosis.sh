#!/usr/bin/env bash
# What a diagnosis costs: SELECT * FROM pg_postmaster_stats_diagnosis (the
# last minute) and pg_postmaster_stats_diagnose('1 hour') over a full
# history of 3600 samples (the default history_size), each timed ROUNDS
# times in one psql session (\timing, server round trip included), on an
# idle server and while a pgbench -C storm keeps findings active (so their
# descriptions are built too).  Prints every time and the medians; the
# issue's target is under 5 ms.  No assertion.
#
# The history fills at FILL_INTERVAL (100 ms: 3600 samples in 6 minutes).
# Starts its own throwaway cluster (test/lib/bench.sh: Unix socket and
# loopback, a free port) and removes it; run as root or as the postgres OS
# user.  Settings: PGBIN (PG_BIN is read too), ROUNDS (50), FILL_INTERVAL
# (100ms), PORT (a free one from 56432).
set -euo pipefail

BENCH_NAME=bench_diagnosis
PGBIN=${PGBIN:-${PG_BIN:-}}
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

ROUNDS=${ROUNDS:-50}
FILL_INTERVAL=${FILL_INTERVAL:-100ms}
MAX_CONNECTIONS=100
HISTORY=3600

bench_setup

PORT=${PORT:-$(pick_port 56432)}
make_cluster diag "$PORT" yes \
	"pg_postmaster_stats.sample_interval = $FILL_INTERVAL" \
	"pg_postmaster_stats.history_size = $HISTORY"
q "$PORT" 'CREATE EXTENSION pg_postmaster_stats' >/dev/null

log "filling the history: $HISTORY samples at $FILL_INTERVAL"
until [[ $(q "$PORT" 'SELECT count(*) FROM pg_postmaster_stats_history') -ge $HISTORY ]]; do
	pause 5
done

# times (ms) of ROUNDS runs of $1, one session
time_query() {
	local sql=$1 i
	{
		printf '%s\n' '\timing on'
		for ((i = 0; i < ROUNDS; i++)); do echo "SELECT count(*) FROM ($sql) d;"; done
	} | "$PGBIN/psql" -X -q -A -t -h "$WORK" -p "$PORT" -U postgres -d postgres 2>&1 |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}

report() {
	local label=$1 sql=$2 times
	mapfile -t times < <(time_query "$sql")
	printf '%-48s median %s ms over %d runs (min %s, max %s); findings: %s\n' "$label" \
		"$(median_fmt %.3f "${times[@]}")" "$ROUNDS" \
		"$(printf '%s\n' "${times[@]}" | sort -g | head -1)" \
		"$(printf '%s\n' "${times[@]}" | sort -g | tail -1)" \
		"$(q "$PORT" "SELECT coalesce(string_agg(finding, ','), 'none') FROM ($sql) d")"
}

echo "history: $(q "$PORT" 'SELECT count(*) FROM pg_postmaster_stats_history') samples; $GIT_ID"
report "idle: pg_postmaster_stats_diagnosis" "SELECT * FROM pg_postmaster_stats_diagnosis"
report "idle: pg_postmaster_stats_diagnose('1 hour')" "SELECT * FROM pg_postmaster_stats_diagnose('1 hour')"

"$PGBIN/pgbench" -n -C -c 4 -T 120 -h "$WORK" -p "$PORT" -U postgres -f "$WORKLOADS/select1.sql" \
	postgres >"$WORK/storm.log" 2>&1 &
BG_PIDS+=($!)
pause 15
report "storm: pg_postmaster_stats_diagnosis" "SELECT * FROM pg_postmaster_stats_diagnosis"
report "storm: pg_postmaster_stats_diagnose('1 hour')" "SELECT * FROM pg_postmaster_stats_diagnose('1 hour')"

print_identity "server $("$PGBIN/postgres" --version) sample_interval=$FILL_INTERVAL history_size=$HISTORY rounds=$ROUNDS"
load_line
