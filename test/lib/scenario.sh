# scenario.sh - helpers shared by the scenario scripts in test/scenarios/.
#
# Sourced, never run.  It sources test/lib/bench.sh (knobs, users, scratch
# directory, clusters, cleanup of everything started, medians) and adds
# what only the scenarios need:
#   - scen_start NAME: setup, identity and the clock rate every scenario reads;
#   - scen_cluster NAME PORT [SETTING...]: a cluster with the extension
#     preloaded, 1 s sampling, eBPF on, the extension created; sets EBPF=t|f;
#   - result: the machine-readable line the runner collects,
#       RESULT<TAB>scenario<TAB>ours<TAB>independent tool<TAB>verdict
#   - hist: aggregates over the history samples of a time window;
#   - a background sampler of the listen queues with ss (the independent
#     view of accept_queue_depth);
#   - /proc accounting of the postmaster (on-CPU and run-queue time) and of
#     the machine's CPUs over a window;
#   - storm_step: one pgbench -C step with all of the above around it;
#   - a persistent psql session (sess_*), so a measurement window can be
#     bounded by samples without the reading connections themselves being
#     forks and reaps inside the window.
#
# Every scenario prints its RESULT lines on stdout and logs on stderr.

# shellcheck source=bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench.sh"

# Ports away from the benchmarks' 56432 so that a benchmark started by
# someone else at the same moment does not race us for the same free port.
SCEN_BASE_PORT=${SCEN_BASE_PORT:-57432}
SAMPLE_INTERVAL=1s

# scen_start NAME [TOOL...]: call once at the top of a scenario.
scen_start() {
	SCEN_NAME=$1
	BENCH_NAME=scenario_$1
	shift
	bench_setup "$@"
	CLIENT_HOST=${CLIENT_HOST:-$WORK}
	HZ=$(getconf CLK_TCK)
	log "scenario $SCEN_NAME: scratch directory $WORK, extension $SO_ID, git $GIT_ID"
}

# result OURS TOOL VERDICT: one line for the runner's table.  Tabs and
# newlines inside the fields would break the format, so they become spaces.
result() {
	local f out=$SCEN_NAME
	for f in "$@"; do
		out+=$'\t'"${f//[$'\t\n']/ }"
	done
	printf 'RESULT\t%s\n' "$out"
}

# scen_cluster NAME PORT [SETTING...]: start a cluster as the scenarios
# want it and wait until its sources work.  The eBPF source needs the
# installed loader with its capabilities; when it does not come up, EBPF=f
# and the scenarios report its columns as unavailable, with the reason in
# EBPF_DETAIL, instead of failing everything else.
scen_cluster() {
	local name=$1 port=$2 deadline
	shift 2
	# ebpf_syscalls on: the scenarios compare our fork times with other tools
	make_cluster "$name" "$port" yes \
		"pg_postmaster_stats.sample_interval = '$SAMPLE_INTERVAL'" \
		"pg_postmaster_stats.ebpf = on" "pg_postmaster_stats.ebpf_syscalls = on" "$@"
	q "$port" "CREATE EXTENSION IF NOT EXISTS pg_postmaster_stats" >/dev/null
	scen_attach "$name" "$port"
}

# scen_attach NAME PORT: wait for a (re)started cluster's sampler and eBPF
# source; sets EBPF, EBPF_DETAIL and PM_PID
scen_attach() {
	local name=$1 port=$2 deadline
	wait_source "$port" sampler_worker t
	deadline=$((SECONDS + 30))
	EBPF=f
	while ((SECONDS < deadline)); do
		EBPF=$(source_active "$port" ebpf)
		[[ $EBPF == t ]] && break
		sleep 0.5
	done
	EBPF_DETAIL=$(q "$port" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'ebpf'")
	[[ $EBPF == t ]] || log "WARNING: eBPF source inactive: $EBPF_DETAIL"
	PM_PID=$(head -n 1 "$WORK/$name/postmaster.pid")
}

# has_column PORT RELATION COLUMN: t if the installed version has it (the
# lead adds columns while these scripts are written; use them when present)
has_column() {
	q "$1" "SELECT count(*) > 0 FROM pg_attribute
		WHERE attrelid = '$2'::regclass AND attname = '$3' AND NOT attisdropped"
}

# now_ts: the local clock as a timestamptz literal (same clock as the server)
now_ts() { date '+%Y-%m-%d %H:%M:%S.%6N%z'; }

# hist PORT T0 T1 SELECT_LIST: one row of aggregates over the samples whose
# whole interval lies in [T0, T1] (a sample covers the interval before it).
hist() {
	q "$1" "SELECT $4 FROM pg_postmaster_stats_history
		WHERE \"time\" - interval_seconds * interval '1 s' >= '$2' AND \"time\" <= '$3'"
}

# diagnosis PORT T0 T1: the extension's own diagnosis of [T0, T1], one line:
# "severity finding: summary; ..." most severe first, or "no finding".  The
# scenarios' verdicts are this, not a judgement of their own.
diagnosis() {
	q "$1" "SELECT coalesce(string_agg(severity || ' ' || finding || ': ' || summary, '; '
				ORDER BY pg_catalog.array_position(ARRAY['critical', 'warning', 'info'], severity)),
			'no finding')
		FROM pg_postmaster_stats_diagnose(timestamptz '$3' - timestamptz '$2', '$3')"
}

# wait_samples PORT N: until N more samples have been taken
wait_samples() {
	local port=$1 n=$2 s0 deadline=$((SECONDS + 30))
	s0=$(q "$port" "SELECT samples_total FROM pg_postmaster_stats")
	until (($(q "$port" "SELECT samples_total FROM pg_postmaster_stats") >= s0 + n)); do
		((SECONDS < deadline)) || die "no new sample in 30 s"
		sleep 0.2
	done
}

# wait_children PORT N: until the postmaster has at most N children again
# (the storm's backends have exited and been reaped)
wait_children() {
	local dir=$WORK/$1 n=$2 deadline=$((SECONDS + 60))
	while (($(cluster_children "$dir") > n)); do
		((SECONDS < deadline)) || die "the postmaster still has $(cluster_children "$dir") children (expected $n)"
		sleep 0.2
	done
}

# pct A B: A / B in percent, one decimal ("n/a" when B is 0 or empty)
pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || b + 0 == 0 || a == "") print "n/a"; else printf "%.1f", 100 * a / b }'
}

# reldiff A B: (A - B) / B in percent, signed, one decimal
reldiff() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || a == "n/a" || b == "n/a") print "n/a"
		else if (b + 0 == 0) print (a + 0 == 0 ? "+0.0" : "inf")
		else printf "%+.1f", 100 * (a - b) / b }'
}

# --- /proc accounting ----------------------------------------------------------

# pm_snap PID: "wall_ns oncpu_ns runqueue_ns stat_ticks" of a process now:
# schedstat (on-CPU and waiting-for-a-CPU nanoseconds) and /proc/<pid>/stat
# utime+stime (clock ticks).
pm_snap() {
	local w run wait
	w=$(date +%s%N)
	read -r run wait _ <"/proc/$1/schedstat"
	echo "$w $run $wait $(proc_cpu_ticks "$1")"
}

# pm_delta SNAP0 SNAP1: "oncpu_pct runqueue_pct stat_pct" of one core over
# the window between two pm_snap readings
pm_delta() {
	awk -v a="$1" -v b="$2" -v hz="$HZ" 'BEGIN {
		split(a, x, " "); split(b, y, " "); w = y[1] - x[1]
		printf "%.1f %.1f %.1f\n", 100 * (y[2] - x[2]) / w, 100 * (y[3] - x[3]) / w, 100 * (y[4] - x[4]) * 1e9 / hz / w }'
}

# cpu_snap: the machine's busy and total jiffies (/proc/stat, all CPUs)
cpu_snap() {
	awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}

# cpu_busy_pct SNAP0 SNAP1: share of all the machine's CPUs in use, %
cpu_busy_pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
		printf "%.1f\n", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0 }'
}

# --- listen queues seen by ss ----------------------------------------------------

# ss_queue PORT: "recvq sendq" of the postmaster's listening sockets (its
# Unix socket in $WORK and 127.0.0.1:PORT).  For a listening socket ss
# shows the accept queue's length as Recv-Q and its capacity as Send-Q.
# Lengths are summed over the sockets, as accept_queue_depth is; the
# capacity is per socket, as accept_queue_max is: the largest.
ss_queue() {
	ss -Hlntx 2>/dev/null | awk -v u="$WORK/.s.PGSQL.$1" -v t="127.0.0.1:$1" '
		$5 == u || $5 == t { r += $3; if ($4 > s) s = $4 } END { print r + 0, s + 0 }'
}

# ss_sampler_start PORT: sample ss_queue every SS_PERIOD seconds into
# $WORK/ss.PORT ("epoch_ns recvq sendq" lines) until ss_sampler_stop.
SS_PERIOD=${SS_PERIOD:-0.2}
ss_sampler_start() {
	local port=$1
	: >"$WORK/ss.$port"
	(
		while :; do
			echo "$(date +%s%N) $(ss_queue "$port")"
			sleep "$SS_PERIOD"
		done
	) >>"$WORK/ss.$port" &
	SS_PID=$!
	BG_PIDS+=("$SS_PID")
}

ss_sampler_stop() {
	stop_pid "$SS_PID" TERM
	forget_pid "$SS_PID"
}

# ss_stats PORT T0_NS T1_NS: "max median samples sendq" of the ss samples
# taken within the window
ss_stats() {
	awk -v a="$2" -v b="$3" '$1 >= a && $1 <= b { print $2, $3 }' "$WORK/ss.$1" | sort -n | awk '
		{ v[NR] = $1; s = $2 }
		END {
			if (NR == 0) { print "n/a n/a 0 n/a"; exit }
			printf "%d %s %d %d\n", v[NR], (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR, s
		}'
}

# --- a connection storm step -----------------------------------------------------

# storm_step PORT CLIENTS SECONDS [PGBENCH_ARG...]: pgbench -C running
# SELECT 1 with CLIENTS clients for SECONDS, with the listen queues sampled
# by ss and the postmaster and the machine accounted from /proc over the
# window from 1 s after the start (connections ramping up) to the end.
# Sets STEP_T0/STEP_T1 (timestamps of that window), STEP_TPS (pgbench's
# connections per second), STEP_CONNS, STEP_PROC ("oncpu_pct runqueue_pct
# stat_pct" of the postmaster from /proc), STEP_BUSY (machine CPU %) and
# STEP_SS ("max median samples sendq").
storm_step() {
	local port=$1 clients=$2 secs=$3 jobs pid p0 p1 c0 c1 n0 n1
	shift 3
	jobs=$((clients < 4 ? clients : 4))
	ss_sampler_start "$port"
	"$PGBIN/pgbench" -n -C -c "$clients" -j "$jobs" -T "$secs" -f "$WORKLOADS/select1.sql" "$@" \
		-h "$CLIENT_HOST" -p "$port" -U postgres postgres >"$WORK/step.out" 2>&1 &
	pid=$!
	BG_PIDS+=("$pid")
	pause 1
	STEP_T0=$(now_ts)
	n0=$(date +%s%N)
	p0=$(pm_snap "$PM_PID")
	c0=$(cpu_snap)
	wait "$pid" || { cat "$WORK/step.out" >&2; die "pgbench -C failed"; }
	forget_pid "$pid"
	p1=$(pm_snap "$PM_PID")
	c1=$(cpu_snap)
	n1=$(date +%s%N)
	STEP_T1=$(now_ts)
	ss_sampler_stop
	STEP_TPS=$(sed -n -E 's/^tps = ([0-9]+\.?[0-9]?).*/\1/p' "$WORK/step.out" | head -n 1)
	STEP_CONNS=$(sed -n -E 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$WORK/step.out")
	STEP_PROC=$(pm_delta "$p0" "$p1")
	STEP_BUSY=$(cpu_busy_pct "$c0" "$c1")
	STEP_SS=$(ss_stats "$port" "$n0" "$n1")
}

# step_ours PORT T0 T1: our figures over the window, '|'-separated:
# connections/s (median), postmaster CPU % (mean), CPU wait % (mean, or
# n/a without the column), accept queue depth (max, median), setup p99 s
# (max), fork mean s (weighted by forks), forks/s (median), samples
step_ours() {
	local wait_expr="'n/a'"
	[[ ${HAS_CPU_WAIT:-f} == t ]] && wait_expr="round(avg(postmaster_cpu_wait_pct)::numeric, 1)::text"
	hist "$1" "$2" "$3" "
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY connections_per_s)::numeric, 1),
		round(avg(postmaster_cpu_pct)::numeric, 1),
		$wait_expr,
		max(accept_queue_depth),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY accept_queue_depth),
		round(max(connection_setup_p99_seconds)::numeric, 4),
		coalesce(round((sum(fork_avg_seconds * forks_per_s * interval_seconds)
			/ nullif(sum(forks_per_s * interval_seconds), 0) * 1e6)::numeric, 0)::text, 'n/a'),
		coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY forks_per_s)::numeric, 1)::text, 'n/a'),
		count(*)"
}

# storm_figures PORT CLIENTS SECONDS: storm_step, then our figures over its
# window (step_ours) in F_rate F_cpu F_wait F_qmax F_qmed F_p99 F_fork
# ("n/a" without eBPF) F_forks F_n, the largest postmaster_pagetable_bytes
# in F_pte and the postmaster's VmPTE from /proc, in bytes, in F_vmpte.
storm_figures() {
	storm_step "$1" "$2" "$3"
	IFS='|' read -r F_rate F_cpu F_wait F_qmax F_qmed F_p99 F_fork F_forks F_n <<<"$(step_ours "$1" "$STEP_T0" "$STEP_T1")"
	[[ $EBPF == t ]] || F_fork=n/a
	F_pte=$(hist "$1" "$STEP_T0" "$STEP_T1" "max(postmaster_pagetable_bytes)")
	F_vmpte=$(awk '/^VmPTE:/ { print $2 * 1024 }' "/proc/$PM_PID/status")
}

# --- a persistent session ------------------------------------------------------

# sess_open PORT: one psql kept open (a coprocess) for reading counters at
# the edges of a window: its backend was forked before the window and is
# reaped after it, so it adds no fork, reap or connection inside it.
# psql's output to a pipe is block-buffered: stdbuf makes it line-buffered
# so each answer arrives when it is printed.
sess_open() {
	coproc SESS { exec stdbuf -oL "$PGBIN/psql" -X -q -A -t -h "$WORK" -p "$1" -U postgres -d postgres 2>&1; }
	# bash unsets SESS_PID when the coprocess ends: keep our own copy
	SESS_COPID=$SESS_PID
	BG_PIDS+=("$SESS_COPID")
	# wait: sample-bounded windows need the session's own sample-wait function
	sess_q "CREATE OR REPLACE FUNCTION pg_temp.next_sample() RETURNS text LANGUAGE plpgsql AS \$\$
		DECLARE s0 bigint; s bigint; t timestamptz;
		BEGIN
			SELECT samples_total INTO s0 FROM pg_postmaster_stats;
			LOOP
				PERFORM pg_sleep(0.01);
				SELECT samples_total, sampled_at INTO s, t FROM pg_postmaster_stats;
				EXIT WHEN s > s0;
			END LOOP;
			RETURN t::text;
		END \$\$" >/dev/null
}

# sess_q SQL: the answer's lines (unaligned, '|' between columns)
sess_q() {
	local line
	printf '%s;\n\\echo __pps_end__\n' "$1" >&"${SESS[1]}"
	while IFS= read -r -t 60 line <&"${SESS[0]}"; do
		[[ $line == __pps_end__ ]] && return 0
		echo "$line"
	done
	die "no answer from the persistent session to: $1"
}

# sess_next_sample: wait in the session for the next sample; prints its time
sess_next_sample() { sess_q "SELECT pg_temp.next_sample()"; }

sess_close() {
	# psql ends on EOF; a coprocess that already ended has no fds left
	local fd=${SESS[1]:-}
	[[ -n $fd ]] && exec {fd}>&-
	stop_pid "$SESS_COPID" TERM
	forget_pid "$SESS_COPID"
}

# machine_line: what the figures were measured on
machine_line() {
	echo "$(nproc) vCPU $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
		"$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
}
