#!/bin/bash
# Replay capacity against WAL generation: the Cybertec experiment ("End of
# the road for PostgreSQL streaming replication?") at small scale.
#
# A primary and a streaming standby on Unix sockets in /tmp.  Each round:
# pause replay on the standby, run pgbench (synchronous_commit = off) on the
# primary for BENCH_SECONDS, wait until the standby has received all of it,
# resume replay and time the catch-up.  The primary's rate is pgbench's tps
# and the WAL it generated per second; the standby's is the same
# transactions replayed per second of catch-up, with the startup process's
# CPU and the replay capacity from pg_postmaster_stats_history, and its
# on-CPU and run-queue time over the whole catch-up read directly from
# /proc/<pid>/schedstat.  Then the sampler's own cost (sampler_cpu_us) on an
# idle primary and standby.  Prints figures, asserts nothing.
#
#   bash test/bench/bench_replay.sh     # as root (clusters run as postgres) or as their owner
#
# Environment: PG_BINDIR (server binaries, default /usr/lib/postgresql/15/bin),
# BENCH_SECONDS (40), ROUNDS (3), SCALE (pgbench scale, 20), CLIENTS (4),
# COST_SECONDS (60), BASELINE_BINDIR (optional: another installation whose
# pg_postmaster_stats lacks the replay source, e.g. built from main; both
# pairs then run side by side for the cost measurement and the difference
# is printed).
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then
	copy=$(mktemp /tmp/bench_replay.XXXXXX.sh)
	cp "$0" "$copy"
	chmod 0755 "$copy"
	chown postgres "$copy"
	status=0
	runuser -u postgres -- bash "$copy" "$@" || status=$?
	rm -f "$copy"
	exit "$status"
fi

BIN=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
BENCH_SECONDS=${BENCH_SECONDS:-40}
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-20}
CLIENTS=${CLIENTS:-4}
COST_SECONDS=${COST_SECONDS:-60}
WORK=$(mktemp -d /tmp/pps-bench-replay.XXXXXX)
BASE_PORT=$((20000 + RANDOM % 10000))

cleanup()
{
	local d
	for d in "$WORK"/*/standby "$WORK"/*/primary; do
		[ -f "$d/postmaster.pid" ] && "$BIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

# use_pair NAME PORT: psql_p / psql_s then talk to $WORK/NAME's primary (PORT) and standby (PORT + 1)
use_pair()
{
	PAIR=$WORK/$1
	PRIMARY_PORT=$2
	STANDBY_PORT=$(($2 + 1))
}
psql_p() { "$BIN/psql" -X -qAt -h "$WORK" -p "$PRIMARY_PORT" -d postgres -c "$1"; }
psql_s() { "$BIN/psql" -X -qAt -h "$WORK" -p "$STANDBY_PORT" -d postgres -c "$1"; }

# poll FN SQL WANT [TIMEOUT_S]
poll()
{
	local fn=$1 sql=$2 want=$3 timeout=${4:-600} got
	local deadline=$((SECONDS + timeout))
	while :; do
		got=$($fn "$sql" 2>/dev/null || true)
		[ "$got" = "$want" ] && return 0
		[ $SECONDS -gt $deadline ] && { log "timeout waiting for $sql = $want (got $got)"; return 1; }
		sleep 0.1
	done
}

median()
{
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NaN"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# start_pair BIN: a primary and a streaming standby in $PAIR
start_pair()
{
	local bin=$1
	mkdir -p "$PAIR"
	"$bin/initdb" -D "$PAIR/primary" -A trust -N >/dev/null
	cat >>"$PAIR/primary/postgresql.conf" <<-EOF
	listen_addresses = ''
	unix_socket_directories = '$WORK'
	port = $PRIMARY_PORT
	shared_preload_libraries = 'pg_postmaster_stats'
	shared_buffers = 1GB
	max_wal_size = 16GB
	checkpoint_timeout = 30min
	synchronous_commit = off
	wal_level = replica
	max_wal_senders = 4
	hot_standby = on
	hot_standby_feedback = on
	autovacuum = off
	pg_postmaster_stats.sample_interval = 100ms
	EOF
	"$bin/pg_ctl" -D "$PAIR/primary" -l "$PAIR/primary.log" -w start >/dev/null
	psql_p 'CREATE EXTENSION pg_postmaster_stats'
	"$bin/pg_basebackup" -h "$WORK" -p "$PRIMARY_PORT" -D "$PAIR/standby" -R -X stream --checkpoint fast
	echo "port = $STANDBY_PORT" >>"$PAIR/standby/postgresql.conf"
	"$bin/pg_ctl" -D "$PAIR/standby" -l "$PAIR/standby.log" -w start >/dev/null
	poll psql_s "SELECT status FROM pg_stat_wal_receiver" streaming 60
}

stop_pair()
{
	local bin=$1
	"$bin/pg_ctl" -D "$PAIR/standby" -m fast -w stop >/dev/null
	"$bin/pg_ctl" -D "$PAIR/primary" -m fast -w stop >/dev/null
	rm -rf "$PAIR"
}

# "<on-CPU ns> <run-queue wait ns>" of a process
schedstat() { awk '{ print $1, $2 }' "/proc/$1/schedstat"; }

# one pause / generate / resume round; prints one line of figures
round()
{
	local out tps txns t0 lsn0 lsn1 wal_bytes resumed catchup_s gen_rate gen_med
	local w0_rec w0_fpi rec_rate fpi_rate rep_rate_avg rep_tps cpu_med cap_med
	local spid cpu0 wait0 cpu1 wait1 cpu_all wait_all window

	psql_s 'SELECT pg_wal_replay_pause()' >/dev/null
	poll psql_s 'SELECT pg_get_wal_replay_pause_state()' paused 60
	t0=$(psql_p 'SELECT clock_timestamp()')
	lsn0=$(psql_p 'SELECT pg_current_wal_insert_lsn()')
	read -r w0_rec w0_fpi < <(psql_p 'SELECT wal_records, wal_fpi FROM pg_stat_wal' | tr '|' ' ')
	out=$("$BIN/pgbench" -n -h "$WORK" -p "$PRIMARY_PORT" -c "$CLIENTS" -j 2 -T "$BENCH_SECONDS" postgres 2>&1)
	lsn1=$(psql_p 'SELECT pg_current_wal_insert_lsn()')
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -1)
	txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	wal_bytes=$(psql_p "SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')")
	gen_rate=$(awk -v b="$wal_bytes" -v s="$BENCH_SECONDS" 'BEGIN { printf "%.0f", b / s }')
	# per-sample median while pgbench ran (the first and last second are partial)
	gen_med=$(psql_p "SELECT wal_generated_bytes_per_s FROM pg_postmaster_stats_history
		WHERE \"time\" > '$t0'::timestamptz + interval '2 s'
		  AND \"time\" < '$t0'::timestamptz + interval '$((BENCH_SECONDS - 1)) s'" | median)
	read -r rec_rate fpi_rate < <(psql_p "SELECT round((wal_records - $w0_rec) / $BENCH_SECONDS.0),
		round((wal_fpi - $w0_fpi) / $BENCH_SECONDS.0) FROM pg_stat_wal" | tr '|' ' ')

	poll psql_s "SELECT received_lsn >= '$lsn1' FROM pg_postmaster_stats_replay" t 600
	spid=$(psql_s 'SELECT startup_pid FROM pg_postmaster_stats_replay')
	read -r cpu0 wait0 < <(schedstat "$spid")
	resumed=$(psql_s 'SELECT clock_timestamp()')
	psql_s 'SELECT pg_wal_replay_resume()' >/dev/null
	# poll slowly: on a small machine the poller competes with the replay
	while [ "$(psql_s "SELECT pg_last_wal_replay_lsn() >= '$lsn1'")" != t ]; do sleep 1; done
	read -r cpu1 wait1 < <(schedstat "$spid")
	sleep 0.3	# the sample that saw the end of the catch-up
	# caught up between the last sample with a backlog and the first without
	catchup_s=$(psql_s "SELECT (extract(epoch FROM max(\"time\") FILTER (WHERE replay_lag_bytes > 0))
			+ extract(epoch FROM min(\"time\") FILTER (WHERE replay_lag_bytes = 0))) / 2
			- extract(epoch FROM '$resumed'::timestamptz)
		FROM pg_postmaster_stats_history WHERE \"time\" > '$resumed'")
	rep_rate_avg=$(awk -v b="$wal_bytes" -v s="$catchup_s" 'BEGIN { printf "%.0f", b / s }')
	rep_tps=$(awk -v n="$txns" -v s="$catchup_s" 'BEGIN { printf "%.0f", n / s }')
	# the startup process over the whole catch-up (it is idle after it)
	cpu_all=$(awk -v a="$cpu0" -v b="$cpu1" -v s="$catchup_s" 'BEGIN { printf "%.1f", (b - a) / 1e7 / s }')
	wait_all=$(awk -v a="$wait0" -v b="$wait1" -v s="$catchup_s" 'BEGIN { printf "%.1f", (b - a) / 1e7 / s }')
	# samples whose interval lay entirely within the catch-up
	window="\"time\" - interval_seconds * interval '1 s' >= '$resumed'
		AND \"time\" <= '$resumed'::timestamptz + interval '$catchup_s s'"
	cpu_med=$(psql_s "SELECT startup_cpu_pct FROM pg_postmaster_stats_history WHERE $window" | median)
	cap_med=$(psql_s "SELECT replay_rate_bytes_per_s * 100 / startup_cpu_pct FROM pg_postmaster_stats_history
		WHERE $window AND startup_cpu_pct >= 20" | median)
	printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$tps" "$txns" "$wal_bytes" "$gen_rate" "$gen_med" \
		"$rec_rate" "$fpi_rate" "$catchup_s" "$rep_rate_avg" "$rep_tps" "$cpu_med" "$cap_med" "$cpu_all" "$wait_all"
	log "  round: $tps tps, $wal_bytes WAL bytes, replayed in $catchup_s s with the startup process $cpu_all% on CPU and $wait_all% waiting for one"
}

# median sampler_cpu_us of the current pair's primary and standby since $1
sampler_cost_since()
{
	printf '%s %s\n' \
		"$(psql_p "SELECT sampler_cpu_us FROM pg_postmaster_stats_history WHERE \"time\" > '$1'" | median)" \
		"$(psql_s "SELECT sampler_cpu_us FROM pg_postmaster_stats_history WHERE \"time\" > '$1'" | median)"
}

fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "NaN" || v == "") print "n/a"; else printf "%.1f\n", v / d }'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench_replay: $("$BIN/postgres" --version), $(nproc) CPUs, pgbench scale $SCALE, $CLIENTS clients, $BENCH_SECONDS s x $ROUNDS rounds"

# ---- replay against generation ----
use_pair bench "$BASE_PORT"
start_pair "$BIN"
"$BIN/pgbench" -i -q -s "$SCALE" -h "$WORK" -p "$PRIMARY_PORT" postgres >/dev/null 2>&1
psql_p 'CHECKPOINT' >/dev/null
poll psql_s "SELECT state FROM pg_postmaster_stats_replay" caught_up 600

results=()
for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS"
	results+=("$(round)")
	psql_p 'CHECKPOINT' >/dev/null	# each round starts a checkpoint cycle: full-page images again
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stop_pair "$BIN"

col() { printf '%s\n' "${results[@]}" | awk -v c="$1" '{ print $c }' | median; }

cat <<EOF

Replay vs generation, medians of $ROUNDS rounds ($(nproc) CPUs, pgbench scale $SCALE, $CLIENTS clients, synchronous_commit = off, $BENCH_SECONDS s per round)

| | primary (pgbench) | standby (replay of the same WAL) |
|---|---|---|
| transactions/s | $(fmt "$(col 1)") | $(fmt "$(col 10)") |
| WAL MB/s (whole run) | $(fmt "$(col 4)" 1048576) | $(fmt "$(col 9)" 1048576) |
| WAL MB/s (median sample) | $(fmt "$(col 5)" 1048576) | |
| WAL records/s, full-page images/s (pg_stat_wal, whole run) | $(fmt "$(col 6)") / $(fmt "$(col 7)") | |
| startup process CPU % (median sample; whole catch-up) | | $(fmt "$(col 11)"); $(fmt "$(col 13)") |
| startup process waiting for a CPU % (whole catch-up) | | $(fmt "$(col 14)") |
| replay capacity MB/s (rate / CPU fraction, median sample) | | $(fmt "$(col 12)" 1048576) |
| replay capacity, transactions/s (capacity / WAL per transaction) | | $(awk -v c="$(col 12)" -v b="$(col 3)" -v n="$(col 2)" 'BEGIN { if (c == "NaN") print "n/a"; else printf "%.0f", c * n / b }') |
| seconds to replay ${BENCH_SECONDS} s of WAL | | $(fmt "$(col 8)") |

load average before / after the rounds: $load_before / $load_after (other processes on the machine compete with the replay)
replay / generation: $(awk -v a="$(col 10)" -v b="$(col 1)" 'BEGIN { printf "%.2f", a / b }')x in transactions; capacity / generation rate: $(awk -v a="$(col 12)" -v b="$(col 4)" 'BEGIN { if (a == "NaN") print "n/a"; else printf "%.2f", a / b }')x
EOF

# ---- the sampler's own cost, idle ----
# With a baseline installation both pairs run side by side over the same
# window, so that whatever else runs on the machine weighs on both.
log "measuring the sampler's own cost, ${COST_SECONDS} s idle"
use_pair cost $((BASE_PORT + 2))
start_pair "$BIN"
if [ -n "${BASELINE_BINDIR:-}" ]; then
	log "baseline: $BASELINE_BINDIR"
	use_pair base $((BASE_PORT + 4))
	start_pair "$BASELINE_BINDIR"
fi
sleep 2
since=$(psql_p 'SELECT clock_timestamp()')
sleep "$COST_SECONDS"
if [ -n "${BASELINE_BINDIR:-}" ]; then
	read -r base_p base_s < <(sampler_cost_since "$since")
	stop_pair "$BASELINE_BINDIR"
fi
use_pair cost $((BASE_PORT + 2))
read -r cost_p cost_s < <(sampler_cost_since "$since")
stop_pair "$BIN"

if [ -n "${BASELINE_BINDIR:-}" ]; then
	cat <<EOF

Sampler cost per tick, median sampler_cpu_us, both pairs side by side over the same ${COST_SECONDS} s at 100 ms (idle)

| | baseline | with replay source | added |
|---|---|---|---|
| primary (one standby connected) | $(fmt "$base_p") | $(fmt "$cost_p") | $(awk -v a="$cost_p" -v b="$base_p" 'BEGIN { printf "%.1f", a - b }') |
| standby | $(fmt "$base_s") | $(fmt "$cost_s") | $(awk -v a="$cost_s" -v b="$base_s" 'BEGIN { printf "%.1f", a - b }') |
EOF
else
	cat <<EOF

Sampler cost per tick, median sampler_cpu_us over ${COST_SECONDS} s at 100 ms (idle): primary $(fmt "$cost_p"), standby $(fmt "$cost_s")
EOF
fi
