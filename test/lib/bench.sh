# bench.sh - shell helpers shared by the benchmarks (test/bench/) and,
# through test/lib/scenario.sh, the scenarios (test/scenarios/).
#
# Sourced, never run.  The sourcing script sets BENCH_NAME (used in messages)
# and calls bench_setup once, in its own shell (it sets traps and changes
# directory).  Benchmarks print figures and ratios; they never assert.
#
# What the helpers provide:
#   - knobs: knob NAME QUICK_DEFAULT FULL_DEFAULT reads NAME from the
#     environment, else the default of a quick (QUICK=1) or a full run;
#     pgbench_knobs the pgbench ones every A/B benchmark reads;
#   - who runs what: as_pg runs server-side commands as the postgres OS user
#     (initdb and postgres refuse root); clients run as the caller with
#     -U postgres over trust authentication;
#   - a scratch directory under /tmp ($WORK, also the Unix socket directory)
#     removed on exit, and a cleanup that stops everything this run started,
#     by process id only: clusters (pg_ctl stop), idle clients, background
#     processes registered in BG_PIDS;
#   - clusters on free ports from 56432 up, Unix sockets plus 127.0.0.1;
#     pair_ports for the two clusters of an A/B comparison;
#   - medians, ratios, /proc CPU accounting, pgbench runs, A/B comparisons;
#   - the identity of what is measured: git HEAD and the installed .so's
#     sha256, which other engineers may rebuild between runs.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
KEEP_WORK=${KEEP_WORK:-0}
BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_LIB_DIR/../.." && pwd)
WORKLOADS=$REPO_DIR/test/workloads
QUICK=${QUICK:-0}

# Variables from the caller's environment must not redirect our clients.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGOPTIONS PGSERVICE PGSERVICEFILE PGPASSWORD PGSSLMODE

log() { printf '# %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# knob NAME QUICK_DEFAULT FULL_DEFAULT: NAME from the environment, else the
# default for a quick (QUICK=1) or a full run
knob() {
	[[ -n ${!1:-} ]] && return 0
	if [[ $QUICK == 1 ]]; then
		printf -v "$1" '%s' "$2"
	else
		printf -v "$1" '%s' "$3"
	fi
}

STARTED_DATADIRS=()		# clusters to stop on exit
BG_PIDS=()				# background processes we started (pgbench, tracers)
IDLE_PIDS=()			# idle psql clients to end on exit
IDLE_HOLD_FD=""			# write end that keeps the idle clients' fifo open
SLEEP_PID=""			# a pause in progress
SUMMARY=()

# bench_setup TOOL...: user, binaries, scratch directory, traps, and what
# is measured (bench_identify).
bench_setup() {
	# initdb and postgres refuse to run as root, so server-side commands
	# run as the postgres OS user.  Clients (psql, pgbench) can run as
	# whoever we are: the clusters use trust authentication and we always
	# pass -U postgres.
	if [[ $EUID -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "there is no postgres OS user"
		as_pg() { runuser -u postgres -- "$@"; }
	elif [[ $(id -un) == postgres ]]; then
		as_pg() { "$@"; }
	else
		die "run as root or as the postgres OS user"
	fi

	local bin
	for bin in initdb pg_ctl psql pgbench "$@"; do
		[[ -x $PGBIN/$bin ]] || die "$PGBIN/$bin not found"
	done

	WORK=$(mktemp -d /tmp/pps_bench.XXXXXX)
	chmod 755 "$WORK"
	[[ $EUID -eq 0 ]] && chown postgres: "$WORK"
	# runuser keeps the working directory; postgres may not be able to enter ours
	cd "$WORK"

	LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

	trap bench_cleanup EXIT
	# an interrupt goes through cleanup (EXIT trap) too
	trap 'exit 130' INT
	trap 'exit 143' TERM

	bench_identify
}

# Sleep in the background and wait for it: bash runs a trap only when the
# foreground command ends, and "wait" returns as soon as a signal arrives.
pause() {
	sleep "$1" &
	SLEEP_PID=$!
	wait "$SLEEP_PID"
	SLEEP_PID=""
}

# stop_pid PID [SIGNAL]: end one process we started and reap it.
stop_pid() {
	local pid=$1 sig=${2:-TERM} deadline=$((SECONDS + 15))
	kill -"$sig" "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# forget_pid PID: it ended (or was stopped); cleanup need not stop it.
forget_pid() {
	local p keep=()
	for p in "${BG_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}

bench_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[[ -n $SLEEP_PID ]] && kill "$SLEEP_PID" 2>/dev/null
	local p
	for p in "${BG_PIDS[@]}"; do
		stop_pid "$p" INT
	done
	stop_idle_clients
	local d
	for d in "${STARTED_DATADIRS[@]}"; do
		as_pg "$PGBIN/pg_ctl" -D "$d" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w -t 30 stop >/dev/null 2>&1
	done
	if [[ $rc -ne 0 ]]; then
		# initdb failures name their own log; the server logs say the rest
		for d in "$WORK"/*.log; do
			[[ -f $d ]] || continue
			echo "--- last lines of $d" >&2
			tail -n 20 "$d" >&2
		done
		# keep the logs, not the (large) data directories
		for d in "${STARTED_DATADIRS[@]}"; do
			rm -rf "$d"
		done
		echo "$BENCH_NAME: failed (exit $rc); logs kept in $WORK" >&2
	elif [[ $KEEP_WORK == 1 ]]; then
		log "scratch directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}

# --- ports, clusters, queries ---------------------------------------------------

port_is_free() {
	! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# First free TCP port at or above $1 that is not in $2 (already taken by us).
pick_port() {
	local p=$1 taken=${2:-}
	while ! port_is_free "$p" || [[ " $taken " == *" $p "* ]]; do
		p=$((p + 1))
		((p < 65000)) || die "no free port found"
	done
	echo "$p"
}

# pair_ports A B: free ports for the clusters A and B of an A/B comparison,
# in PORT_<A> and PORT_<B> (names in upper case); sets CLIENT_HOST (where
# pgbench connects: the socket directory unless set).  After bench_setup.
pair_ports() {
	local a b
	a=$(pick_port 56432)
	b=$(pick_port $((a + 1)) "$a")
	printf -v "PORT_${1^^}" '%s' "$a"
	printf -v "PORT_${2^^}" '%s' "$b"
	CLIENT_HOST=${CLIENT_HOST:-$WORK}
	log "scratch directory $WORK; $1 cluster on port $a, $2 cluster on port $b"
}

# q PORT SQL: one value (or unaligned rows) from the cluster on PORT
q() {
	"$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$WORK" -p "$1" -U postgres -d postgres -c "$2"
}

# session_open PORT / session_q SQL / session_close: one psql session kept
# open for repeated queries.  A new connection per poll is a fork and an
# exit of a postmaster child, which is what the extension watches: polling
# through one session keeps a benchmark's own polling out of its figures.
# The session talks through two FIFOs opened on descriptors of this shell,
# so that session_q also works in a command substitution.  session_q
# returns one line (a query of one value).
session_open() {
	rm -f "$WORK/session.in" "$WORK/session.out"
	mkfifo "$WORK/session.in" "$WORK/session.out"
	"$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$WORK" -p "$1" -U postgres -d postgres \
		<"$WORK/session.in" >"$WORK/session.out" 2>&1 &
	PPS_SESSION_PID=$!
	exec {PPS_SESSION_W}>"$WORK/session.in" {PPS_SESSION_R}<"$WORK/session.out"
}
session_q() {
	local line
	printf '%s;\n' "$1" >&"$PPS_SESSION_W"
	IFS= read -r -t 60 line <&"$PPS_SESSION_R" || die "no answer from the polling session to: $1"
	printf '%s\n' "$line"
}
session_close() {
	[[ -n ${PPS_SESSION_PID:-} ]] || return 0
	exec {PPS_SESSION_W}>&- {PPS_SESSION_R}<&-
	wait "$PPS_SESSION_PID" 2>/dev/null || true
	PPS_SESSION_PID=
	rm -f "$WORK/session.in" "$WORK/session.out"
}

# make_cluster NAME PORT PRELOAD(yes|no) [SETTING...]: initdb, configure,
# start.  Every cluster gets max_connections=$MAX_CONNECTIONS; SETTINGs are
# extra postgresql.conf lines.
make_cluster() {
	local name=$1 port=$2 preload=$3 dir=$WORK/$1
	shift 3
	as_pg "$PGBIN/initdb" -D "$dir" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$WORK/$name.initdb.log" 2>&1 ||
		die "initdb of $name failed, see $WORK/$name.initdb.log"
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$WORK'"
		echo "max_connections = $MAX_CONNECTIONS"
		# every cluster logs the same way; nothing chatty that costs CPU
		echo "logging_collector = off"
		if [[ $preload == yes ]]; then
			echo "shared_preload_libraries = 'pg_postmaster_stats'"
		fi
		local line
		for line in "$@"; do
			echo "$line"
		done
	} | as_pg tee -a "$dir/postgresql.conf" >/dev/null
	STARTED_DATADIRS+=("$dir")
	as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$WORK/$name.log" -w -t 120 start >/dev/null ||
		die "could not start cluster $name"
}

# stop_cluster NAME: stop a cluster before the end of the run
stop_cluster() {
	local dir=$WORK/$1 d keep=()
	as_pg "$PGBIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null ||
		die "could not stop cluster $1"
	for d in "${STARTED_DATADIRS[@]}"; do
		[[ $d == "$dir" ]] || keep+=("$d")
	done
	STARTED_DATADIRS=("${keep[@]}")
}

# set_reload PORT GUC VALUE: ALTER SYSTEM and reload
set_reload() {
	q "$1" "ALTER SYSTEM SET $2 = '$3'" >/dev/null
	q "$1" "SELECT pg_reload_conf()" >/dev/null
}

# source_active PORT SOURCE: t or f, from pg_postmaster_stats_sources
source_active() {
	q "$1" "SELECT active FROM pg_postmaster_stats_sources WHERE source = '$2'"
}

# wait_source PORT SOURCE t|f: until the sampler reports that state
wait_source() {
	local port=$1 src=$2 want=$3 have deadline=$((SECONDS + 30))
	while :; do
		have=$(source_active "$port" "$src")
		[[ $have == "$want" ]] && return 0
		((SECONDS < deadline)) ||
			die "source $src is active=$have, expected $want: $(q "$port" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = '$src'")"
		sleep 0.2
	done
}

# cost_knobs RUNS DURATION: the knobs of a cost comparison: RUNS and
# DURATION (these defaults in a full run; 2 and 5 s with QUICK=1), SCALE
# (10; 2) and WARMUP (5 s; 2), each from the environment when set
cost_knobs() {
	knob RUNS 2 "$1"
	knob DURATION 5 "$2"
	knob SCALE 2 10
	knob WARMUP 2 5
}

# cost_settings: SETTINGS, the postgresql.conf lines of both clusters of a
# cost comparison (bench_cost.sh, bench_cost_swap.sh).  shared_buffers
# holds scale 10 (160 MB), so -S does not depend on the page cache both
# clusters share; no checkpoint starts by itself inside a run (each run is
# preceded by one); and synchronous_commit = off makes the write runs
# CPU-bound: the shared virtual disk's fsync latency is noise the extension
# does not touch, and on CPU-bound runs our CPU share shows as much as it
# can.  Every source of ours is on, sampling once a second;
# EBPF_SYSCALLS=on|off sets pg_postmaster_stats.ebpf_syscalls (else its
# default).
cost_settings() {
	SETTINGS=(
		"shared_buffers = 256MB"
		"synchronous_commit = off"
		"max_wal_size = 4GB"
		"checkpoint_timeout = 30min"
		"pg_postmaster_stats.sample_interval = '1s'"
		"pg_postmaster_stats.snapshot_probe = on"
		"pg_postmaster_stats.ebpf = on"
	)
	if [[ -n ${EBPF_SYSCALLS:-} ]]; then
		SETTINGS+=("pg_postmaster_stats.ebpf_syscalls = $EBPF_SYSCALLS")
	fi
}

# cost_workload_args NAME: WORKLOAD_ARGS, pgbench's arguments for a cost
# workload: select_only (-S), connect (-S -C: a new connection per
# transaction) or write (the default tpcb-like script)
cost_workload_args() {
	case $1 in
	select_only) WORKLOAD_ARGS=(-S) ;;
	connect) WORKLOAD_ARGS=(-S -C) ;;
	write) WORKLOAD_ARGS=() ;;
	*) die "unknown workload $1 (select_only, connect, write)" ;;
	esac
}

# pgbench_knobs RUNS DURATION: the pgbench knobs every A/B benchmark reads
# (RUNS, DURATION, SCALE, PGBENCH_CLIENTS, PGBENCH_THREADS), from the
# environment or these defaults (scale 10, 4 clients, 2 threads)
pgbench_knobs() {
	RUNS=${RUNS:-$1}
	DURATION=${DURATION:-$2}
	SCALE=${SCALE:-10}
	PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-4}
	PGBENCH_THREADS=${PGBENCH_THREADS:-2}
}

# ext_cluster NAME: one cluster with the extension preloaded and created,
# on a free port from 56432; sets PORT, CLIENT_HOST (where pgbench
# connects; the socket directory unless set) and INTERVAL_MS (the
# sampler's interval)
ext_cluster() {
	PORT=$(pick_port 56432)
	CLIENT_HOST=${CLIENT_HOST:-$WORK}
	log "scratch directory $WORK; cluster on port $PORT"
	make_cluster "$1" "$PORT" yes
	q "$PORT" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
	INTERVAL_MS=$(q "$PORT" "SELECT setting FROM pg_settings WHERE name = 'pg_postmaster_stats.sample_interval'")
}

# pgbench_init PORT: pgbench tables at $SCALE, vacuumed and checkpointed
pgbench_init() {
	"$PGBIN/pgbench" -i -q -s "$SCALE" -h "$WORK" -p "$1" -U postgres postgres \
		>>"$WORK/pgbench_init.log" 2>&1 || die "pgbench -i failed, see $WORK/pgbench_init.log"
	# pgbench -i has vacuumed; a checkpoint now keeps one out of the runs
	q "$1" "CHECKPOINT" >/dev/null
}

# --- numbers --------------------------------------------------------------------

median() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "NaN"; exit }
			if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# median_fmt FORMAT VALUE...: the median printed with a printf format
median_fmt() {
	local fmt=$1
	shift
	printf '%s\n' "$@" | grep -v -e '^$' | sort -g | awk -v fmt="$fmt" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "NaN"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf fmt "\n", m
		}'
}

# ratio A B: A / B with three decimals
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'
}

# join_by , VALUE...: values separated by commas
join_by() {
	local IFS=$1
	shift
	echo "$*"
}

emit() {
	# a result line goes to stdout right away and into the final summary
	echo "$*"
	SUMMARY+=("$*")
}

# --- process accounting -------------------------------------------------------

# /proc/<pid>/stat utime+stime in clock ticks (comm may contain spaces, so
# the fields are counted after the last ')': utime is field 14, stime 15).
proc_cpu_ticks() {
	local stat rest
	stat=$(<"/proc/$1/stat")
	rest=${stat##*) }
	# rest starts at field 3 (state): utime is its 12th word, stime its 13th
	awk '{ print $12 + $13 }' <<<"$rest"
}

# /proc/<pid>/schedstat first field: on-CPU time in nanoseconds
proc_runtime_ns() {
	awk '{ print $1 }' "/proc/$1/schedstat"
}

# --- what is measured ---------------------------------------------------------

# Sets SO_PATH, SO_ID and GIT_ID.  The library is loaded at postmaster
# start, so call this before starting clusters: a later "make install" does
# not affect running clusters, but would make the figures hard to attribute.
bench_identify() {
	SO_PATH=$("$PGBIN/pg_config" --pkglibdir)/pg_postmaster_stats.so
	[[ -f $SO_PATH ]] || die "$SO_PATH is not installed (make install)"
	SO_ID="sha256=$(sha256sum "$SO_PATH" | cut -c1-12) mtime=$(date -u -r "$SO_PATH" +%Y-%m-%dT%H:%M:%SZ)"
	GIT_ID=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -n $(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null) ]] && GIT_ID+="+dirty"
	return 0
}

# print_identity [LINE...]: machine, LINEs (e.g. the server's settings),
# extension and date, for the end of a summary.
print_identity() {
	echo "machine nproc=$(nproc) kernel=$(uname -r) cpu=\"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)\" mem_mb=$(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
	[[ $# -gt 0 ]] && printf '%s\n' "$@"
	echo "extension $SO_PATH $SO_ID git=$GIT_ID"
	echo "date $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
}

# The machine's load averages at the start and now: this machine is shared.
load_line() {
	echo "loadavg start=\"$LOADAVG_START\" end=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
}

# Heading and the result lines collected by emit.
print_summary() {
	echo
	echo "=== $BENCH_NAME summary ==="
	printf '%s\n' "${SUMMARY[@]}"
}

# --- clients ----------------------------------------------------------------------

# Idle psql clients: N background psql processes whose stdin is one fifo
# that we hold open for writing but never write to.  psql connects first
# and then blocks reading its script, so each backend sits "idle" at the
# protocol level, which is the common case for pooled or long-lived
# connections.  (pg_sleep would be an active backend.)
start_idle_clients() {
	local n=$1 port=$2 i
	mkfifo "$WORK/idle.fifo"
	# read-write open of a fifo does not block on Linux and makes us a writer
	exec {IDLE_HOLD_FD}<>"$WORK/idle.fifo"
	for ((i = 0; i < n; i++)); do
		# the clients must not inherit the writer, or EOF would never come
		"$PGBIN/psql" -X -q -h "$CLIENT_HOST" -p "$port" -U postgres -d postgres \
			<"$WORK/idle.fifo" >/dev/null 2>>"$WORK/idle_clients.err" {IDLE_HOLD_FD}>&- &
		IDLE_PIDS+=($!)
	done
}

stop_idle_clients() {
	# Closing the only writer of the fifo gives every idle psql EOF on
	# stdin, so they disconnect cleanly; stragglers are killed by pid.
	if [[ -n $IDLE_HOLD_FD ]]; then
		exec {IDLE_HOLD_FD}>&-
		IDLE_HOLD_FD=""
	fi
	local pid deadline=$((SECONDS + 20))
	for pid in "${IDLE_PIDS[@]}"; do
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
			sleep 0.1
		done
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${IDLE_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	IDLE_PIDS=()
	rm -f "$WORK/idle.fifo"
}

# Idle sessions held by one pgbench running test/workloads/idle_connections.sql
# (each "transaction" is a client-side \sleep, so the backends stay idle).
# Sets IDLE_PGBENCH_PID.  pgbench opens one socket per client: the caller's
# open-file limit must allow it (raised here when the hard limit permits).
start_idle_pgbench() {
	local n=$1 port=$2 jobs=$((n < 4 ? n : 4))
	(
		ulimit -n "$((n + 256 > 4096 ? n + 256 : 4096))" 2>/dev/null || true
		exec "$PGBIN/pgbench" -n -c "$n" -j "$jobs" -T 86400 -f "$WORKLOADS/idle_connections.sql" \
			-h "$CLIENT_HOST" -p "$port" -U postgres postgres
	) >"$WORK/idle_pgbench.log" 2>&1 &
	IDLE_PGBENCH_PID=$!
	BG_PIDS+=("$IDLE_PGBENCH_PID")
}

stop_idle_pgbench() {
	local port=$1 deadline=$((SECONDS + 60))
	[[ -n ${IDLE_PGBENCH_PID:-} ]] || return 0
	stop_pid "$IDLE_PGBENCH_PID" TERM
	forget_pid "$IDLE_PGBENCH_PID"
	IDLE_PGBENCH_PID=""
	# backends notice the closed sockets and exit; wait for them to be gone
	until [[ $(q "$port" "SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()") -eq 0 ]]; do
		((SECONDS < deadline)) || die "idle backends did not exit"
		sleep 0.5
	done
}

wait_for_clients() {
	local n=$1 port=$2 have deadline=$((SECONDS + 120))
	while :; do
		have=$(q "$port" "SELECT count(*) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
			AND state = 'idle'")
		((have >= n)) && return 0
		((SECONDS < deadline)) || die "only $have of $n idle clients connected (see $WORK/idle_clients.err, $WORK/idle_pgbench.log)"
		sleep 0.5
	done
}

# Wait until the history has a sample that saw all N clients, so the window
# starts after the connection burst (whose accept/fork work is not idle cost).
wait_for_sample_with() {
	local n=$1 port=$2 deadline=$((SECONDS + 30))
	until [[ $(q "$port" "SELECT count(*) FROM pg_postmaster_stats_history
			WHERE client_backends >= $n AND \"time\" > clock_timestamp() - interval '5 s'") -gt 0 ]]; do
		((SECONDS < deadline)) || die "no sample saw $n client backends"
		sleep 0.5
	done
}

# --- pgbench ------------------------------------------------------------------------

# pgbench_once PORT EXTRA_ARGS...: one run; sets PGB_TPS, PGB_TX (transactions
# processed) and PGB_CLIENT_CPU_S (pgbench's own user+system CPU seconds)
pgbench_once() {
	local port=$1 TIMEFORMAT='%U %S'
	shift
	{ time "$PGBIN/pgbench" -n -h "$CLIENT_HOST" -p "$port" -U postgres \
		-c "$PGBENCH_CLIENTS" -j "$PGBENCH_THREADS" -T "$DURATION" "$@" postgres \
		>"$WORK/pgbench.out" 2>&1; } 2>"$WORK/pgbench.time" ||
		{ cat "$WORK/pgbench.out" >&2; die "pgbench failed on port $port"; }
	# pgbench 15 prints "tps = N (without initial connection time)", or
	# with -C "tps = N (including reconnection times)"; there is one line
	PGB_TPS=$(sed -n -E 's/^tps = ([0-9.]+) .*/\1/p' "$WORK/pgbench.out" | head -n 1)
	PGB_TX=$(sed -n -E 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$WORK/pgbench.out" | head -n 1)
	PGB_CLIENT_CPU_S=$(awk '{ print $1 + $2 }' "$WORK/pgbench.time")
}

# run_pgbench PORT EXTRA_ARGS...: prints the tps figure of one run
run_pgbench() {
	pgbench_once "$@"
	echo "$PGB_TPS"
}

# /proc/<pid>/stat utime+stime+cutime+cstime in clock ticks: the process
# and its children that it has reaped
proc_cpu_ticks_with_children() {
	local stat rest
	stat=$(<"/proc/$1/stat") || return 1
	rest=${stat##*) }
	awk '{ print $12 + $13 + $14 + $15 }' <<<"$rest"
}

# cluster_cpu_ticks DATADIR: CPU of the whole cluster in clock ticks: the
# postmaster, every child it has reaped (backends that have exited), and
# its live children (the workers) with what they have reaped themselves.
cluster_cpu_ticks() {
	local pm c t total
	pm=$(head -n 1 "$1/postmaster.pid")
	total=$(proc_cpu_ticks_with_children "$pm")
	for c in $(<"/proc/$pm/task/$pm/children"); do
		t=$(proc_cpu_ticks_with_children "$c" 2>/dev/null) || continue
		total=$((total + t))
	done
	echo "$total"
}

# wait_reaped DATADIR N0: until the postmaster has no more than N0 children
# (at most 30 s): the backends' CPU reaches its cutime when it reaps them,
# so a run's CPU is complete only then
wait_reaped() {
	local deadline=$((SECONDS + 30))
	while (($(cluster_children "$1") > $2)) && ((SECONDS < deadline)); do
		sleep 0.1
	done
}

# cluster_children DATADIR: how many children the postmaster has now
cluster_children() {
	local pm
	pm=$(head -n 1 "$1/postmaster.pid")
	wc -w <"/proc/$pm/task/$pm/children"
}

# compare_tps NAME A B [PGBENCH_ARGS...]: RUNS pgbench runs per side, one
# line of medians, their ratio A/B and every run.  Before each run of side X
# the function prep_X is called; it sets AB_PORT (and may change settings
# and verify them).  AB_PAIRED=1 adds the median of the per-run ratios.
# AB_CPU=1 adds a line with the CPU per transaction of each side: the
# cluster's (prep_X must also set AB_DATADIR) and the cluster's plus
# pgbench's, from /proc clock ticks; on a machine whose other tenants make
# throughput swing, CPU per transaction is the steadier figure.  Their
# "efficiency" ratios are B's CPU per transaction over A's, to be read like
# the TPS ratio A/B.
# The medians stay in CMP_TPS_A/B and CMP_TOTAL_US_A/B for the caller.
# AB_ORDER=fixed runs A then B every time; alternate (the default) runs A,B
# then B,A, so a trend in the machine during the run (thermal, noisy
# neighbours, page cache) cannot favour one side.
compare_tps() {
	local name=$1 a=$2 b=$3 r side c0 c1 n0 srv tot
	shift 3
	local -a ra=() rb=() sa=() sb=() ta=() tb=() order
	local hz
	hz=$(getconf CLK_TCK)
	for ((r = 1; r <= RUNS; r++)); do
		if [[ ${AB_ORDER:-alternate} == alternate && $((r % 2)) -eq 0 ]]; then
			order=("$b" "$a")
		else
			order=("$a" "$b")
		fi
		for side in "${order[@]}"; do
			"prep_$side"
			if [[ ${AB_CPU:-0} == 1 ]]; then
				n0=$(cluster_children "$AB_DATADIR")
				c0=$(cluster_cpu_ticks "$AB_DATADIR")
			fi
			pgbench_once "$AB_PORT" "$@"
			[[ -n $PGB_TPS ]] || die "no tps in pgbench output"
			if [[ ${AB_CPU:-0} == 1 ]]; then
				wait_reaped "$AB_DATADIR" "$n0"
				c1=$(cluster_cpu_ticks "$AB_DATADIR")
				read -r srv tot <<<"$(awk -v c="$((c1 - c0))" -v hz="$hz" -v tx="$PGB_TX" -v cl="$PGB_CLIENT_CPU_S" \
					'BEGIN { printf "%.2f %.2f\n", c * 1e6 / hz / tx, (c / hz + cl) * 1e6 / tx }')"
			fi
			if [[ $side == "$a" ]]; then
				ra+=("$PGB_TPS")
				sa+=("${srv:-}") ta+=("${tot:-}")
			else
				rb+=("$PGB_TPS")
				sb+=("${srv:-}") tb+=("${tot:-}")
			fi
			log "$name run $r/$RUNS $side tps=$PGB_TPS${srv:+ server_cpu_us_per_tx=$srv total_cpu_us_per_tx=$tot}"
		done
	done
	local ma mb paired=""
	ma=$(median "${ra[@]}")
	mb=$(median "${rb[@]}")
	CMP_TPS_A=$ma CMP_TPS_B=$mb
	if [[ ${AB_PAIRED:-0} == 1 ]]; then
		# the ratio within each run (A and B back to back), then its median:
		# less sensitive to slow drift of the machine than the ratio of medians
		local i pr=()
		for ((i = 0; i < ${#ra[@]}; i++)); do
			pr+=("$(ratio "${ra[i]}" "${rb[i]}")")
		done
		paired=" paired_ratio_median=$(median_fmt %.3f "${pr[@]}") paired_ratios=$(join_by , "${pr[@]}")"
	fi
	emit "tps workload=$name ${a}_median=$ma ${b}_median=$mb" \
		"ratio=$(ratio "$ma" "$mb")$paired" \
		"runs=$RUNS duration_s=$DURATION ${a}_runs=$(join_by , "${ra[@]}") ${b}_runs=$(join_by , "${rb[@]}")"
	if [[ ${AB_CPU:-0} == 1 ]]; then
		local msa msb mta mtb
		msa=$(median_fmt %.2f "${sa[@]}")
		msb=$(median_fmt %.2f "${sb[@]}")
		mta=$(median_fmt %.2f "${ta[@]}")
		mtb=$(median_fmt %.2f "${tb[@]}")
		CMP_TOTAL_US_A=$mta CMP_TOTAL_US_B=$mtb
		emit "cpu_per_tx workload=$name ${a}_server_us=$msa ${b}_server_us=$msb server_efficiency_ratio=$(ratio "$msb" "$msa")" \
			"${a}_total_us=$mta ${b}_total_us=$mtb total_efficiency_ratio=$(ratio "$mtb" "$mta")" \
			"${a}_server_runs=$(join_by , "${sa[@]}") ${b}_server_runs=$(join_by , "${sb[@]}")"
	fi
}
