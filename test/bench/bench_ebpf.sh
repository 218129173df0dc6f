#!/usr/bin/env bash
#
# bench_ebpf.sh - what the eBPF source costs, and whether its fork latency
# agrees with independent measurements (issue 3).
#
# This is a benchmark, not a test: it prints numbers and never compares them
# with a threshold.
#
# What it measures:
#   1. pgbench TPS with pg_postmaster_stats.ebpf on and off, select-only (-S)
#      and new connection per transaction (-S -C), on ONE cluster, switching
#      the setting with ALTER SYSTEM + pg_reload_conf() and checking in
#      pg_postmaster_stats_sources that the ebpf source is active (or not)
#      before every run.  Next to TPS, the CPU per transaction of the
#      cluster (and of the cluster plus pgbench) from /proc: this machine is
#      shared, and CPU per transaction moves much less than throughput when
#      other tenants come and go.
#      Why one cluster and not two: the programs hook the raw syscall
#      tracepoints, which run on every syscall of the machine, whoever makes
#      it.  With two clusters side by side the "off" cluster's backends and
#      pgbench would pay for the "on" cluster's programs too, hiding the
#      cost.  The same reason gives a third figure: the CPU cost of one
#      syscall of an unrelated process (dd) with the programs on and off,
#      and, with the syscalls a pgbench -S transaction makes (client and
#      server, counted with strace -c), the TPS ratio that tax implies.
#      With ebpf off the worker closes its links and the programs are
#      unloaded, so nothing of ours runs in the "off" runs.  (Other clusters
#      on the machine may have their own loaders attached; the number of
#      pps_sys_enter programs on the machine is printed for both sides.)
#   2. The fork latency our eBPF programs measure (clone() in the postmaster,
#      pg_postmaster_stats_latency metric 'fork', and fork_avg_seconds in the
#      history) against two independent measurements of the same forks,
#      each over its own window of pgbench -C:
#      - bpftrace, uprobe + uretprobe on the postmaster's fork_process()
#        (root only; see below), one value per fork;
#      - strace -T on the postmaster's clone() calls (ptrace), one value per
#        fork.
#      Our median comes from the histogram delta over the window, linearly
#      interpolated inside its log2 bucket (as Prometheus'
#      histogram_quantile does); our mean from fork_avg_seconds weighted by
#      each sample's forks.  The independent values are also put through the
#      same buckets and interpolation, to separate the bucketing error from
#      a measurement difference.
#
#      Biases, all upward for the independent tools:
#      - bpftrace times fork_process(), i.e. the clone() syscall plus
#        glibc's fork() wrapper and atfork handlers, fflush(), and the two
#        uprobe traps (a breakpoint exception at entry and at the return
#        trampoline, ~1-3 us each).  Ours times the syscall alone, from the
#        sys_enter to the sys_exit tracepoint.
#      - strace -T is the time between strace seeing the syscall-entry stop
#        and seeing the syscall-exit stop: the syscall itself plus the
#        wakeup of the stopped postmaster after entry and of strace after
#        exit (scheduler latency, tens of us on a loaded 2-core machine).
#        ptrace also stops the postmaster at every other syscall (the
#        filter cannot be pushed into the kernel with -p), so the fork rate
#        drops while strace is attached; the clone itself is not slowed,
#        and our histogram measures the same, slower-paced, forks.
#      - Both tools also count the time the postmaster waits for a CPU when
#        it is preempted on its way back to user space after clone(): the
#        new child's wakeup can preempt it, and the switch happens after
#        the sys_exit tracepoint, where our timing stops.  On a loaded
#        machine that is a tail of milliseconds; the share of calls at or
#        above 2048 us is printed for both sides to show it.  It moves the
#        means much more than the medians.
#      Why not bpftrace on tracepoints or kprobes, or perf: this kernel has
#      no kprobes and tracefs is not mounted; perf trace/stat mount tracefs
#      themselves (as root), which changes the machine for everyone, so they
#      are not used.  bpftrace uprobes attach through the uprobe PMU
#      (perf_event_open) and need no tracefs, only root.
#
# Usage (as root: bpftrace and strace need it):
#   test/bench/bench_ebpf.sh
# Environment knobs (defaults in brackets):
#   RUNS [10]            pgbench runs per side and workload (short runs,
#   DURATION [5]         seconds per pgbench run   many alternations: the
#                        machine's other tenants come and go)
#   SCALE [10]           pgbench -i scale factor
#   PGBENCH_CLIENTS [4]  pgbench -c
#   PGBENCH_THREADS [2]  pgbench -j
#   SYSCALL_BYTES [1000000]  bytes dd copies one at a time (syscall cost)
#   FORK_WINDOW [15]     seconds of each fork latency window
#   FORK_TOOLS ["bpftrace strace"]  independent tools to compare with
#   CLIENT_HOST [socket dir]  where pgbench connects (or 127.0.0.1)
#   PGBIN [/usr/lib/postgresql/15/bin]
#   KEEP_WORK [0]        1: keep the scratch directory (logs, per-call values)
#
set -euo pipefail

BENCH_NAME=bench_ebpf
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

pgbench_knobs 10 5
FORK_WINDOW=${FORK_WINDOW:-15}
FORK_TOOLS=${FORK_TOOLS:-"bpftrace strace"}
SYSCALL_BYTES=${SYSCALL_BYTES:-1000000}
MAX_CONNECTIONS=100

bench_setup

ext_cluster ebpf
PM_PID=$(q "$PORT" "SELECT postmaster_pid FROM pg_postmaster_stats")

# Is the loader usable here at all?  Everything below needs it.
wait_source "$PORT" ebpf t
log "ebpf source: $(q "$PORT" "SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'ebpf'")"

log "pgbench -i -s $SCALE"
pgbench_init "$PORT"

# pps_sys_enter programs loaded on the whole machine (ours and other
# clusters'); bpftool needs root, so "n/a" otherwise.
machine_loaders() {
	if [[ $EUID -eq 0 ]] && command -v bpftool >/dev/null; then
		bpftool prog show 2>/dev/null | grep -c 'name pps_sys_enter' || true
	else
		echo n/a
	fi
}

# --- 1. TPS with the eBPF source on vs off ---------------------------------------

LOADERS_on=()
LOADERS_off=()

# ebpf_state on|off: switch if needed, then check what the sampler reports
ebpf_state() {
	local want=$1 active=t
	[[ $want == off ]] && active=f
	if [[ $(q "$PORT" "SHOW pg_postmaster_stats.ebpf") != "$want" ]]; then
		set_reload "$PORT" pg_postmaster_stats.ebpf "$want"
		wait_source "$PORT" ebpf "$active"
		# let the loader's start (or the detach) and one more sample pass
		pause "$(awk -v i="$INTERVAL_MS" 'BEGIN { printf "%.3f", i / 1000 + 0.5 }')"
	fi
	# checked before every run, not only after a switch
	[[ $(source_active "$PORT" ebpf) == "$active" ]] ||
		die "ebpf source is not $want before the run"
}

prep_on() {
	ebpf_state on
	LOADERS_on+=("$(machine_loaders)")
	AB_PORT=$PORT AB_DATADIR=$WORK/ebpf
}
prep_off() {
	ebpf_state off
	LOADERS_off+=("$(machine_loaders)")
	AB_PORT=$PORT AB_DATADIR=$WORK/ebpf
}

AB_PAIRED=1 AB_CPU=1
compare_tps select_only on off -S
SELECT_ONLY_TOTAL_US_OFF=$CMP_TOTAL_US_B
compare_tps connect_select_only on off -S -C

# What one syscall of an unrelated process costs with the programs attached
# and without: dd copying one byte at a time does one read() and one write()
# per byte.  The sys_enter/sys_exit programs run on every syscall of the
# machine and return after comparing the caller's tgid, so this is the tax
# every process pays, whatever it is.  dd's own CPU time (user + system,
# from its rusage), not the wall time: waiting for a CPU on this shared
# machine is not syscall cost.
syscall_ns() {
	local TIMEFORMAT='%3U %3S' t
	t=$({ time dd if=/dev/zero of=/dev/null bs=1 count="$SYSCALL_BYTES" 2>/dev/null; } 2>&1)
	awk -v t="$t" -v n="$SYSCALL_BYTES" 'BEGIN { split(t, f, " "); printf "%.1f", (f[1] + f[2]) * 1e9 / (2 * n) }'
}
SC_on=()
SC_off=()
for ((r = 1; r <= RUNS; r++)); do
	for side in $( ((r % 2)) && echo on off || echo off on); do
		ebpf_state "$side"
		v=$(syscall_ns)
		if [[ $side == on ]]; then SC_on+=("$v"); else SC_off+=("$v"); fi
		log "syscall cost run $r/$RUNS $side ns=$v"
	done
done
sc_on=$(median "${SC_on[@]}")
sc_off=$(median "${SC_off[@]}")
# other tenants only ever add time (cache misses, stolen time): the minimum
# is the steadier estimate
sc_on_min=$(printf '%s\n' "${SC_on[@]}" | sort -g | head -n 1)
sc_off_min=$(printf '%s\n' "${SC_off[@]}" | sort -g | head -n 1)
emit "syscall_ns dd_bs1_bytes=$SYSCALL_BYTES on_median=$sc_on off_median=$sc_off ratio=$(ratio "$sc_on" "$sc_off")" \
	"on_min=$sc_on_min off_min=$sc_off_min min_ratio=$(ratio "$sc_on_min" "$sc_off_min")" \
	"on_runs=$(join_by , "${SC_on[@]}") off_runs=$(join_by , "${SC_off[@]}")"
# Syscalls per pgbench -S transaction, client and server side, counted by
# strace -c (pgbench under strace -f; the postmaster with -f, so the backend
# it forks for the connection is followed): with the cost per syscall this
# gives the TPS ratio the syscall tax implies for -S.
syscalls_per_tx() {
	local tx=5000 sp deadline=$((SECONDS + 30)) client server
	strace -f -c -o "$WORK/syscalls_server.txt" -p "$PM_PID" 2>/dev/null &
	sp=$!
	BG_PIDS+=("$sp")
	until grep -q "^TracerPid:[[:space:]]*$sp\$" "/proc/$PM_PID/status"; do
		((SECONDS < deadline)) || die "strace did not attach"
		sleep 0.2
	done
	strace -f -c -o "$WORK/syscalls_client.txt" "$PGBIN/pgbench" -n -h "$CLIENT_HOST" -p "$PORT" -U postgres \
		-c 1 -t "$tx" -S postgres >/dev/null 2>&1 || die "pgbench under strace failed"
	# let the backend exit (strace -c counts a process's calls when it ends)
	sleep 1
	stop_pid "$sp" INT
	forget_pid "$sp"
	# the summary's last line: "100.00 seconds usecs/call calls [errors] total"
	client=$(awk '$NF == "total" { print $4 }' "$WORK/syscalls_client.txt")
	server=$(awk '$NF == "total" { print $4 }' "$WORK/syscalls_server.txt")
	awk -v c="$client" -v s="$server" -v tx="$tx" 'BEGIN { printf "%.1f %.1f\n", c / tx, s / tx }'
}
# implied T/(T + syscalls x tax): T the off side's CPU per transaction
implied_ratio() {
	awk -v c="$sc_client" -v s="$sc_server" -v d="$1" -v t="$SELECT_ONLY_TOTAL_US_OFF" \
		'BEGIN { d = d < 0 ? 0 : d; printf "%.4f", t * 1000 / (t * 1000 + (c + s) * d) }'
}
if [[ $EUID -eq 0 ]] && command -v strace >/dev/null; then
	read -r sc_client sc_server <<<"$(syscalls_per_tx)"
	tax_median=$(awk -v a="$sc_on" -v b="$sc_off" 'BEGIN { printf "%.1f", a - b }')
	tax_min=$(awk -v a="$sc_on_min" -v b="$sc_off_min" 'BEGIN { printf "%.1f", a - b }')
	emit "syscalls_per_select_only_tx client=$sc_client server=$sc_server off_cpu_per_tx_us=$SELECT_ONLY_TOTAL_US_OFF" \
		"tax_ns_by_median=$tax_median implied_select_only_ratio_by_median=$(implied_ratio "$tax_median")" \
		"tax_ns_by_min=$tax_min implied_select_only_ratio_by_min=$(implied_ratio "$tax_min")"
fi
emit "pps_sys_enter_programs_on_machine on_runs=$(join_by , "${LOADERS_on[@]}") off_runs=$(join_by , "${LOADERS_off[@]}")"

# --- 2. fork latency: ours vs independent tools ----------------------------------

ebpf_state on

# Bucket counts of our 'fork' histogram, one line "k cumulative_count".
fork_hist() {
	q "$PORT" "SELECT (row_number() OVER (ORDER BY le_seconds) - 1) || ' ' || count
		FROM pg_postmaster_stats_latency WHERE metric = 'fork' ORDER BY le_seconds"
}

# AWK_HIST: functions shared by both sides.  Bucket k holds values v (us)
# with 2^(k-1) <= v < 2^k (k = 0: v < 1 us); the median is interpolated
# linearly between the bucket's bounds by rank, as histogram_quantile does.
AWK_HIST='
function bucket_of(us,   k) {
	if (us < 1) return 0
	k = 0
	while (us >= 1) { us /= 2; k++ }
	return k
}
function lower_us(k) { return k == 0 ? 0 : 2 ^ (k - 1) }
function upper_us(k) { return 2 ^ k }
# median of the counts in cnt[0..nb-1]; sets MED_K to its bucket
function hist_median(cnt, nb,   k, total, rank, cum) {
	total = 0
	for (k = 0; k < nb; k++) total += cnt[k]
	if (total == 0) { MED_K = -1; return "NaN" }
	rank = total / 2
	cum = 0
	for (k = 0; k < nb; k++) {
		if (cnt[k] > 0 && cum + cnt[k] >= rank) {
			MED_K = k
			return lower_us(k) + (upper_us(k) - lower_us(k)) * (rank - cum) / cnt[k]
		}
		cum += cnt[k]
	}
}
'

# ours_stats HIST0 HIST1 T0 T1: "calls median_us bucket share_ge_2ms mean_us samples"
ours_stats() {
	local h0=$1 h1=$2 t0=$3 t1=$4 mean
	# mean of the window: each sample's fork_avg_seconds weighted by its forks
	mean=$(q "$PORT" "
		SELECT coalesce(round((1e6 * sum(fork_avg_seconds * forks_per_s * interval_seconds)
		              / nullif(sum(forks_per_s * interval_seconds), 0))::numeric, 1)::text, 'NaN')
		       || ' ' || count(fork_avg_seconds)
		FROM pg_postmaster_stats_history
		WHERE \"time\" > '$t0' AND \"time\" <= '$t1' AND fork_avg_seconds IS NOT NULL")
	awk "$AWK_HIST"'
		NR == FNR { c0[$1] = $2; next }
		{ c1[$1] = $2; nb = $1 + 1 }
		END {
			prev = 0
			for (k = 0; k < nb; k++) {
				cum = c1[k] - c0[k]
				cnt[k] = cum - prev
				prev = cum
				calls += cnt[k]
			}
			m = hist_median(cnt, nb)
			# bucket 12 starts at 2048 us
			for (k = 12; k < nb; k++) tail += cnt[k]
			printf "%d %.1f [%g,%g) %.3f %s\n", calls, m, lower_us(MED_K), upper_us(MED_K), calls ? tail / calls : 0, mean
		}' mean="$mean" <(echo "$h0") <(echo "$h1")
}

# tool_stats FILE: per-call values in ns, one a line:
# "calls median_us mean_us binned_median_us bucket share_ge_2ms"
tool_stats() {
	grep -E '^[0-9]+$' "$1" | sort -n | awk "$AWK_HIST"'
		{ v[++n] = $1 / 1000; sum += $1 / 1000; cnt[bucket_of(int($1 / 1000))]++; if ($1 >= 2048000) tail++ }
		END {
			if (n == 0) { print "0 NaN NaN NaN - 0"; exit }
			med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			b = hist_median(cnt, 27)
			printf "%d %.1f %.1f %.1f [%g,%g) %.3f\n", n, med, sum / n, b, lower_us(MED_K), upper_us(MED_K), tail / n
		}'
}

# start_tool NAME OUT: attach NAME to the postmaster; sets TOOL_PID
start_tool() {
	local tool=$1 out=$2 exe deadline=$((SECONDS + 30))
	case $tool in
		bpftrace)
			exe=$(readlink "/proc/$PM_PID/exe")
			# the parent's return only (the child returns 0 from fork_process
			# with another pid); @start is per thread of the postmaster
			bpftrace -e "
				uprobe:$exe:fork_process /pid == $PM_PID/ { @start[tid] = nsecs; }
				uretprobe:$exe:fork_process /pid == $PM_PID && @start[tid]/ {
					printf(\"%d\\n\", nsecs - @start[tid]); delete(@start[tid]); }
				END { clear(@start); }" >"$out" 2>"$out.err" &
			TOOL_PID=$!
			BG_PIDS+=("$TOOL_PID")
			until grep -q '^Attaching' "$out" 2>/dev/null; do
				kill -0 "$TOOL_PID" 2>/dev/null || die "bpftrace ended: $(tail -n 3 "$out.err")"
				((SECONDS < deadline)) || die "bpftrace did not attach"
				sleep 0.2
			done
			;;
		strace)
			# -T in ns; without -f, so the children are not traced
			strace -qq --syscall-times=ns -e trace=clone,clone3 -e signal=none \
				-o "$out.raw" -p "$PM_PID" 2>"$out.err" &
			TOOL_PID=$!
			BG_PIDS+=("$TOOL_PID")
			until grep -q "^TracerPid:[[:space:]]*$TOOL_PID\$" "/proc/$PM_PID/status"; do
				kill -0 "$TOOL_PID" 2>/dev/null || die "strace ended: $(tail -n 3 "$out.err")"
				((SECONDS < deadline)) || die "strace did not attach"
				sleep 0.2
			done
			;;
		*) die "unknown tool $tool" ;;
	esac
}

stop_tool() {
	local tool=$1 out=$2
	# SIGINT: bpftrace detaches and exits, strace detaches
	stop_pid "$TOOL_PID" INT
	forget_pid "$TOOL_PID"
	if [[ $tool == strace ]]; then
		# "clone(...) = 1234 <0.000512345>": successful calls, in ns
		sed -n -E 's/^clone3?\(.*\) = [1-9][0-9]* <([0-9]+)\.([0-9]{9})>$/\1\2/p' "$out.raw" |
			sed -E 's/^0+([0-9])/\1/' >"$out"
	fi
}

for tool in $FORK_TOOLS; do
	if ! command -v "$tool" >/dev/null || [[ $EUID -ne 0 ]]; then
		emit "fork_latency tool=$tool skipped=\"needs root and $tool\""
		continue
	fi
	out=$WORK/fork_$tool.txt
	log "fork latency: pgbench -S -C for ${FORK_WINDOW} s with $tool attached to the postmaster (pid $PM_PID)"
	"$PGBIN/pgbench" -n -h "$CLIENT_HOST" -p "$PORT" -U postgres -c "$PGBENCH_CLIENTS" -j "$PGBENCH_THREADS" \
		-T "$((FORK_WINDOW + 8))" -S -C postgres >"$WORK/fork_pgbench_$tool.log" 2>&1 &
	bench_pid=$!
	BG_PIDS+=("$bench_pid")
	pause 2
	start_tool "$tool" "$out"
	pause 1
	h0=$(fork_hist)
	t0=$(q "$PORT" "SELECT clock_timestamp()")
	pause "$FORK_WINDOW"
	h1=$(fork_hist)
	t1=$(q "$PORT" "SELECT clock_timestamp()")
	stop_tool "$tool" "$out"
	wait "$bench_pid" || die "pgbench failed, see $WORK/fork_pgbench_$tool.log"
	forget_pid "$bench_pid"
	tps=$(sed -n -E 's/^tps = ([0-9.]+) .*/\1/p' "$WORK/fork_pgbench_$tool.log" | head -n 1)

	read -r o_calls o_med o_bucket o_tail o_mean o_samples <<<"$(ours_stats "$h0" "$h1" "$t0" "$t1")"
	read -r t_calls t_med t_mean t_bmed t_bucket t_tail <<<"$(tool_stats "$out")"
	emit "fork_latency tool=$tool window_s=$FORK_WINDOW pgbench_tps=$tps" \
		"ours_calls=$o_calls ours_median_us=$o_med ours_median_bucket_us=$o_bucket ours_mean_us=$o_mean ours_mean_samples=$o_samples ours_share_ge_2048us=$o_tail" \
		"tool_calls=$t_calls tool_median_us=$t_med tool_mean_us=$t_mean tool_binned_median_us=$t_bmed tool_median_bucket_us=$t_bucket tool_share_ge_2048us=$t_tail" \
		"ratio_median=$(ratio "$o_med" "$t_med") ratio_mean=$(ratio "$o_mean" "$t_mean") ratio_median_same_buckets=$(ratio "$o_med" "$t_bmed")"
done

# --- summary -----------------------------------------------------------------------
print_summary
print_identity "$(load_line)" "server $("$PGBIN/postgres" --version) sample_interval_ms=$INTERVAL_MS pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS scale=$SCALE client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST") bpftrace=\"$(bpftrace --version 2>/dev/null || echo none)\" strace=\"$(strace -V 2>/dev/null | head -n 1 || echo none)\""
