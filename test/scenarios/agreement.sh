#!/usr/bin/env bash
#
# agreement.sh - do our figures agree with independent tools measuring the
# same workload in the same run?  (issue 9, part 2)
#
# Part A, exact counts over a quiesced window.  bpftrace (root) counts, on
# the postmaster only, successful returns of the postgres binary's
# fork_process() (every child the postmaster starts goes through it) and of
# libc's waitpid() (the postmaster's reaper calls waitpid(-1, ...,
# WNOHANG) until it returns 0; a positive return is one reaped child).
# uprobes need root (CAP_SYS_ADMIN), which is why the extension's loader
# does not use them; kprobes, fentry and tracefs are not available here.
# The window: bpftrace attached, then a sample (our eBPF counters are folded
# into shared memory by the sampler at each sample), our counters read,
# pgbench -C -t N, every backend exited and reaped, two more samples, our
# counters read, bpftrace stopped.  Our counters are read through one psql
# session opened before bpftrace attaches and closed after it stops, so the
# reading adds no fork or reap inside the window; autovacuum is off, so
# nothing else forks.  Expected: identical counts, and connections_total,
# the sum of pg_stat_database.sessions and pgbench's connections (its
# transactions plus its one setup connection) identical too.
#
# Part B, rates during a storm (pgbench -C, AGREE_CLIENTS clients), over a
# window bounded by two samples:
#   - postmaster CPU: our postmaster_cpu_pct (and postmaster_cpu_wait_pct)
#     averaged over the window's samples, weighted by their intervals, vs
#     utime+stime of /proc/<pid>/stat (and the run delay of schedstat) read
#     by this script right after each bounding sample; target 5 %;
#   - connection rate: connections_total vs pg_stat_database.sessions, both
#     read at each edge in one query (sessions are flushed when a backend
#     exits, so a handful of in-flight connections separate them);
#   - accept backlog: our accept_queue_depth at each sample vs ss Recv-Q of
#     the postmaster's listening sockets sampled every SS_PERIOD s by this
#     script.  They sample at different instants, so only max and median
#     over the window can be compared, and a queue that fills and drains
#     within milliseconds is caught by each at random.
#
# Usage (as root): test/scenarios/agreement.sh
# Environment (defaults; QUICK=1 in brackets):
#   AGREE_TX [250] [100]     pgbench -C transactions per client in part A
#   AGREE_COUNT_CLIENTS [4]  clients in part A
#   AGREE_SECONDS [20] [8]   part B window
#   AGREE_CLIENTS [8]        clients in part B
#   CPU_TARGET_PCT [5]       relative difference accepted for CPU and rates
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob AGREE_TX 100 250
knob AGREE_SECONDS 8 20
AGREE_COUNT_CLIENTS=${AGREE_COUNT_CLIENTS:-4}
AGREE_CLIENTS=${AGREE_CLIENTS:-8}
CPU_TARGET_PCT=${CPU_TARGET_PCT:-5}
MAX_CONNECTIONS=50

scen_start agreement
[[ $EUID -eq 0 ]] || die "bpftrace needs root"
command -v bpftrace >/dev/null || die "bpftrace is not installed (apt-get install bpftrace)"
PORT=$(pick_port "$SCEN_BASE_PORT")
# autovacuum off: nothing but our workload may fork in the counting window
scen_cluster agree "$PORT" "autovacuum = off"
HAS_CPU_WAIT=$(has_column "$PORT" pg_postmaster_stats_history postmaster_cpu_wait_pct)

# verdict DIFF_PCT TARGET_PCT: agreement within the target or not
verdict() {
	awk -v d="$1" -v t="$2" 'BEGIN {
		if (d == "n/a") print "not comparable"
		else if (d == "inf") print "DIFFER"
		else { a = d < 0 ? -d : d; if (a <= t) printf "agree (|%s %%| <= %s %%)\n", d, t; else printf "DIFFER by %s %% (target %s %%)\n", d, t } }'
}

sess_open "$PORT"

# --- part A: exact counts ----------------------------------------------------------
COUNTERS="SELECT forks_total, reaps_total, connections_total,
	(SELECT sum(sessions) FROM pg_stat_database) FROM pg_postmaster_stats"
if [[ $EBPF != t ]]; then
	result "forks/reaps: eBPF source inactive ($EBPF_DETAIL)" "bpftrace not run" "not comparable"
else
	exe=$(readlink "/proc/$PM_PID/exe")
	# the libc the postmaster has mapped (uprobes attach to that file's inode)
	libc=$(awk '$6 ~ /\/libc\.so\.6$/ { print $6; exit }' "/proc/$PM_PID/maps")
	[[ -n $libc ]] || die "no libc.so.6 in the postmaster's mappings"
	base=$(cluster_children "$WORK/agree")
	out=$WORK/bpftrace.out
	# pid is the thread group id: the postmaster only (a child returns 0
	# from fork_process, with its own pid).  Both functions return a pid_t
	# (int): the cast ignores the undefined upper half of the register.
	bpftrace -e "
		uretprobe:$exe:fork_process /pid == $PM_PID && (int32)retval > 0/ { @forks = count(); }
		uretprobe:$libc:waitpid /pid == $PM_PID && (int32)retval > 0/ { @reaps = count(); }" \
		>"$out" 2>"$out.err" &
	BPF_PID=$!
	BG_PIDS+=("$BPF_PID")
	deadline=$((SECONDS + 30))
	until grep -q '^Attaching' "$out" 2>/dev/null; do
		kill -0 "$BPF_PID" 2>/dev/null || die "bpftrace ended: $(tail -n 3 "$out.err")"
		((SECONDS < deadline)) || die "bpftrace did not attach"
		sleep 0.2
	done
	log "bpftrace attached (fork_process in $exe, waitpid in $libc)"
	sess_next_sample >/dev/null
	IFS='|' read -r f0 r0 c0 s0 <<<"$(sess_q "$COUNTERS")"
	log "part A: pgbench -C -c $AGREE_COUNT_CLIENTS -t $AGREE_TX"
	"$PGBIN/pgbench" -n -C -c "$AGREE_COUNT_CLIENTS" -j 2 -t "$AGREE_TX" -f "$WORKLOADS/select1.sql" \
		-h "$CLIENT_HOST" -p "$PORT" -U postgres postgres >"$WORK/count.out" 2>&1 ||
		{ cat "$WORK/count.out" >&2; die "pgbench failed"; }
	tx=$(sed -n -E 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$WORK/count.out")
	wait_children agree "$base"
	# two samples: the first may have folded its eBPF counters just before
	# the last reap
	sess_next_sample >/dev/null
	sess_next_sample >/dev/null
	IFS='|' read -r f1 r1 c1 s1 <<<"$(sess_q "$COUNTERS")"
	stop_pid "$BPF_PID" INT
	forget_pid "$BPF_PID"
	# bpftrace prints its maps when it exits ("@forks: N"); a map that was
	# never written is not printed: 0
	bf=$(awk '$1 == "@forks:" { print $2 }' "$out")
	br=$(awk '$1 == "@reaps:" { print $2 }' "$out")
	bf=${bf:-0} br=${br:-0}
	of=$((f1 - f0)) or=$((r1 - r0)) oc=$((c1 - c0)) os=$((s1 - s0)) pc=$((tx + 1))
	same() { [[ $1 == "$2" ]] && echo identical || echo "DIFFER ($(reldiff "$1" "$2") %)"; }
	result "forks_total delta $of" "bpftrace uretprobe fork_process (postmaster, retval > 0): $bf" "$(same "$of" "$bf")"
	result "reaps_total delta $or" "bpftrace uretprobe libc waitpid (postmaster, retval > 0): $br" "$(same "$or" "$br")"
	result "connections_total delta $oc" "pg_stat_database.sessions delta $os; pgbench $tx transactions + 1 setup connection = $pc" \
		"$(if [[ $oc == "$os" && $oc == "$pc" ]]; then echo identical; else echo "DIFFER (sessions $(reldiff "$oc" "$os") %, pgbench $(reldiff "$oc" "$pc") %)"; fi)"
fi

# --- part B: rates during a storm ----------------------------------------------------
log "part B: pgbench -C -c $AGREE_CLIENTS, a window of about $AGREE_SECONDS s"
EDGE="SELECT connections_total, (SELECT sum(sessions) FROM pg_stat_database) FROM pg_postmaster_stats"
ss_sampler_start "$PORT"
"$PGBIN/pgbench" -n -C -c "$AGREE_CLIENTS" -j 4 -T "$((AGREE_SECONDS + 6))" -f "$WORKLOADS/select1.sql" \
	-h "$CLIENT_HOST" -p "$PORT" -U postgres postgres >"$WORK/storm.out" 2>&1 &
bench_pid=$!
BG_PIDS+=("$bench_pid")
pause 1.5
# each edge: the sample, then /proc at once (a few ms later), then the
# connection counters
ta=$(sess_next_sample)
pa=$(pm_snap "$PM_PID")
IFS='|' read -r ca sa <<<"$(sess_q "$EDGE")"
pause "$((AGREE_SECONDS - 1))"
tb=$(sess_next_sample)
pb=$(pm_snap "$PM_PID")
IFS='|' read -r cb sb <<<"$(sess_q "$EDGE")"
wait "$bench_pid" || { cat "$WORK/storm.out" >&2; die "pgbench failed"; }
forget_pid "$bench_pid"
ss_sampler_stop
read -r p_cpu p_wait p_stat <<<"$(pm_delta "$pa" "$pb")"
wait_expr="'n/a'"
[[ $HAS_CPU_WAIT == t ]] && wait_expr="round((sum(postmaster_cpu_wait_pct * interval_seconds) / sum(interval_seconds))::numeric, 1)::text"
IFS='|' read -r o_cpu o_wait o_rate o_secs qmax qmed n <<<"$(q "$PORT" "
	SELECT round((sum(postmaster_cpu_pct * interval_seconds) / sum(interval_seconds))::numeric, 1),
	       $wait_expr,
	       round((sum(connections_per_s * interval_seconds) / sum(interval_seconds))::numeric, 1),
	       round(sum(interval_seconds)::numeric, 3),
	       max(accept_queue_depth), percentile_cont(0.5) WITHIN GROUP (ORDER BY accept_queue_depth), count(*)
	FROM pg_postmaster_stats_history WHERE \"time\" > '$ta' AND \"time\" <= '$tb'")"
t_ns=$(awk -v a="$pa" -v b="$pb" 'BEGIN { split(a, x, " "); split(b, y, " "); print y[1] - x[1] }')
read -r ss_max ss_med ss_n ss_cap <<<"$(ss_stats "$PORT" "${pa%% *}" "${pb%% *}")"
d_cpu=$(reldiff "$o_cpu" "$p_stat")
result "postmaster_cpu_pct mean over $n samples ($o_secs s): $o_cpu %" \
	"/proc/$PM_PID/stat utime+stime over the same window ($(awk -v t="$t_ns" 'BEGIN { printf "%.3f", t / 1e9 }') s): $p_stat % (schedstat on-CPU $p_cpu %)" \
	"$(verdict "$d_cpu" "$CPU_TARGET_PCT")"
if [[ $HAS_CPU_WAIT == t ]]; then
	result "postmaster_cpu_wait_pct mean: $o_wait %" "/proc/$PM_PID/schedstat run delay: $p_wait %" \
		"$(verdict "$(reldiff "$o_wait" "$p_wait")" "$CPU_TARGET_PCT")"
fi
oc=$((cb - ca)) os=$((sb - sa))
result "connections_total delta $oc over the storm window (connections_per_s integrates to $(awk -v r="$o_rate" -v s="$o_secs" 'BEGIN { printf "%.0f", r * s }'))" \
	"pg_stat_database.sessions delta $os (flushed at each backend's exit)" \
	"$(verdict "$(reldiff "$oc" "$os")" "$CPU_TARGET_PCT"); at most $AGREE_CLIENTS in-flight connections separate them"
result "accept_queue_depth at each sample: max $qmax, median $qmed ($n samples); capacity $(q "$PORT" "SELECT accept_queue_max FROM pg_postmaster_stats")" \
	"ss Recv-Q of the listening sockets every ${SS_PERIOD} s: max $ss_max, median $ss_med ($ss_n samples); Send-Q (capacity) $ss_cap" \
	"different instants: compare max and median; $(if [[ $qmax == "$ss_max" && $qmed == "$ss_med" ]]; then echo "same max and median"; else echo "max $(reldiff "$qmax" "$ss_max") %, median $qmed vs $ss_med"; fi)"
sess_close
