#!/usr/bin/env bash
#
# bench_cost.sh - what the whole extension costs (issue 9, part 3 "Cost").
#
# This is a benchmark: it prints figures and a verdict against the issue's
# target (TPS ratio >= 0.99), and never fails on it.
#
# Two clusters side by side, started once, identical postgresql.conf except
# shared_preload_libraries:
#   with     pg_postmaster_stats preloaded and created, every source on:
#            the eBPF source through the installed loader, the snapshot
#            probe, sample_interval = 1s; Debian's postgres_exporter with
#            monitoring/postgres_exporter/queries.yaml (our queries only,
#            as test/perl/PpsMonitoring.pm starts it) scraped once a second
#            by a curl loop on loopback during every "with" run;
#   without  nothing of ours: no library, no extension, no exporter, no
#            scrape.  Not even an exporter with its default metrics: the
#            with side's exporter runs only our queries, so everything the
#            with side has beyond the without side is ours, including the
#            exporter process itself.  The ratio is therefore an upper bound
#            for a user who already runs postgres_exporter.
# The pg_postmaster_stats.* lines are in both configuration files (the
# without side keeps them as unused placeholders), so the files differ in
# the preload line alone.
#
# While a "without" run is measured, the with cluster must not tax it: our
# eBPF programs hook the raw syscall tracepoints, which run on every
# syscall of the machine (the without side's backends and pgbench too), and
# a scrape or a sampler tick takes CPU from the shared cores.  So before
# each without run the with cluster gets pg_postmaster_stats.enabled = off
# (the worker detaches the eBPF programs and stops sampling and probing) and
# the scraper pauses; before each with run everything is switched back on
# and pg_postmaster_stats_sources must say ebpf and snapshot_probe are
# active.  The switch happens between runs, never inside one.  What each
# idle cluster still used during the other side's runs is printed
# (neighbour CPU), and so is the number of pps_sys_enter programs on the
# machine during each side's runs (other clusters' loaders are not ours).
#
# Workloads, in this order (select-only first: the write runs grow tables):
#   select_only  pgbench -S
#   connect      pgbench -S -C (a new connection per transaction: accept,
#                fork, our ClientAuthentication_hook, exit, reap)
#   write        pgbench's default tpcb-like script
# For each: RUNS rounds, each one run per side back to back, in the order
# with,without then without,with (A,B,B,A,A,B,...): neighbours' noise and a
# slow drift of the machine hit both sides alike.  Figures: median TPS per
# side, their ratio (with/without), the ratio of each round and the median
# of those; and server CPU per transaction from /proc (the cluster's
# processes, with what the postmaster reaped, as bench_foundation.sh does,
# plus on the with side the exporter's own CPU: it runs on the database
# host), which a noisy neighbour blurs much less than TPS.  The CPU ratio
# is without/with, to be read like the TPS ratio.
#
# Usage (as root: the exporter and bpftool; or as the postgres OS user):
#   test/bench/bench_cost.sh
#   QUICK=1 test/bench/bench_cost.sh      # a trial: 2 rounds of 5 s, scale 2
# Environment knobs (defaults in brackets):
#   RUNS [5]            rounds per workload (one run per side each)
#   DURATION [20]       seconds per pgbench run
#   CLIENTS [4]         pgbench -c
#   THREADS [2]         pgbench -j
#   SCALE [10]          pgbench -i scale factor
#   COST_WORKLOADS ["select_only connect write"]  which, in this order
#   WARMUP [5]          seconds of pgbench -S per side before measuring
#   QUICK [0]           1: RUNS=2 DURATION=5 SCALE=2 WARMUP=2 unless set
#   EBPF_SYSCALLS []    off: pg_postmaster_stats.ebpf_syscalls = off on the
#                       with side (no program on every system call)
#   SCRAPE [1]          0: no 1 Hz scrape in the with runs (the extension's
#                       own cost, without the exporter's)
#   CLIENT_HOST [socket dir]  where pgbench connects (or 127.0.0.1)
#   EXPORTER [/usr/bin/prometheus-postgres-exporter]
#   PGBIN [/usr/lib/postgresql/15/bin], KEEP_WORK [0]
# Output: log lines on stderr; figures on stdout; at the end one line per
# workload: RESULT<TAB>cost_<workload><TAB><with><TAB><without><TAB><verdict>
#
set -euo pipefail

BENCH_NAME=bench_cost
# shellcheck source=../lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bench.sh"

cost_knobs 5 20
COST_WORKLOADS=${COST_WORKLOADS:-"select_only connect write"}
PGBENCH_CLIENTS=${CLIENTS:-4}
PGBENCH_THREADS=${THREADS:-2}
EXPORTER=${EXPORTER:-/usr/bin/prometheus-postgres-exporter}
SCRAPE=${SCRAPE:-1}
TARGET=0.99
MAX_CONNECTIONS=100

[[ -x $EXPORTER ]] || die "needs $EXPORTER: apt-get install prometheus-postgres-exporter"
command -v curl >/dev/null || die "needs curl"

cost_settings

bench_setup

pair_ports with without
make_cluster with "$PORT_WITH" yes "${SETTINGS[@]}"
make_cluster without "$PORT_WITHOUT" no "${SETTINGS[@]}"
DIR_WITH=$WORK/with
DIR_WITHOUT=$WORK/without

q "$PORT_WITH" "CREATE EXTENSION pg_postmaster_stats" >/dev/null
[[ -z $(q "$PORT_WITHOUT" "SHOW shared_preload_libraries") ]] ||
	die "the without cluster preloads a library"
for port in "$PORT_WITH" "$PORT_WITHOUT"; do
	q "$port" "CREATE ROLE pps_scraper LOGIN IN ROLE pg_monitor" >/dev/null
done
[[ $(q "$PORT_WITH" "SELECT setting FROM pg_settings WHERE name = 'pg_postmaster_stats.sample_interval'") == 1000 ]] ||
	die "sample_interval is not 1s on the with cluster"
wait_source "$PORT_WITH" ebpf t
wait_source "$PORT_WITH" snapshot_probe t
log "sources of the with cluster:"
q "$PORT_WITH" "SELECT source || ' active=' || active || ': ' || detail FROM pg_postmaster_stats_sources ORDER BY source" |
	sed 's/^/#   /' >&2

# --- the exporter and the 1 Hz scraper -----------------------------------------

# The exporter is our process, not the cluster's, so it is stopped here and
# not by test/lib/bench.sh's cleanup (which sends SIGINT: background jobs of
# a script ignore it).  setpriv (not runuser) execs in place, so $! is the exporter.
EXPORTER_PID=""
SCRAPER_PID=""
stop_ours() {
	local p
	for p in "$SCRAPER_PID" "$EXPORTER_PID"; do
		[[ -n $p ]] || continue
		stop_pid "$p" TERM
		forget_pid "$p"
	done
	SCRAPER_PID="" EXPORTER_PID=""
}
cost_cleanup() {
	local rc=$?
	set +e
	stop_ours
	(exit "$rc")
	bench_cleanup
}
trap cost_cleanup EXIT

EXPORTER_PORT=$(pick_port 59187 "$PORT_WITH $PORT_WITHOUT")
EXPORTER_URL=http://127.0.0.1:$EXPORTER_PORT/metrics
# postgres may not be able to read the repository
cp "$REPO_DIR/monitoring/postgres_exporter/queries.yaml" "$WORK/queries.yaml"
chmod 644 "$WORK/queries.yaml"
(
	export DATA_SOURCE_NAME="host=$WORK port=$PORT_WITH dbname=postgres user=pps_scraper sslmode=disable"
	set -- "$EXPORTER" --web.listen-address="127.0.0.1:$EXPORTER_PORT" \
		--extend.query-path="$WORK/queries.yaml" --disable-default-metrics \
		--disable-settings-metrics --no-collector.database --no-collector.bgwriter
	if [[ $EUID -eq 0 ]]; then
		exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	fi
	exec "$@"
) >"$WORK/exporter.log" 2>&1 &
EXPORTER_PID=$!
BG_PIDS+=("$EXPORTER_PID")
for _ in $(seq 100); do
	curl -sf -o "$WORK/first_scrape.txt" "$EXPORTER_URL" && break
	sleep 0.1
done
SERIES=$(grep -c '^pg_postmaster_' "$WORK/first_scrape.txt" || true)
[[ $SERIES -gt 0 ]] || die "the exporter gives no pg_postmaster_ series, see $WORK/exporter.log"
grep -q '^pg_exporter_last_scrape_error 0' "$WORK/first_scrape.txt" ||
	die "the exporter reports a scrape error, see $WORK/exporter.log"
log "exporter on $EXPORTER_URL: $SERIES pg_postmaster_ series"

# One GET a second on a deadline, only while $WORK/scraping exists; the
# counts of good and failed scrapes go to $WORK/scrapes.
scraper_loop() {
	trap 'exit 0' TERM
	local ok=0 failed=0 next now wait_us
	next=${EPOCHREALTIME/./}
	while :; do
		if [[ -e $WORK/scraping ]]; then
			if curl -sf -m 5 -o /dev/null "$EXPORTER_URL"; then
				ok=$((ok + 1))
			else
				failed=$((failed + 1))
			fi
			echo "$ok $failed" >"$WORK/scrapes.tmp"
			mv "$WORK/scrapes.tmp" "$WORK/scrapes"
		fi
		next=$((next + 1000000))
		now=${EPOCHREALTIME/./}
		wait_us=$((next - now))
		if ((wait_us > 0)); then
			sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
		else
			next=$now	# a slow scrape: do not burst to catch up
		fi
	done
}
echo "0 0" >"$WORK/scrapes"
scraper_loop &
SCRAPER_PID=$!
BG_PIDS+=("$SCRAPER_PID")

# --- sides -----------------------------------------------------------------------

# pps_sys_enter programs on the whole machine (ours and other clusters');
# bpftool needs root.
bpf_programs() {
	if [[ $EUID -eq 0 ]] && command -v bpftool >/dev/null; then
		bpftool prog show 2>/dev/null | grep -c 'name pps_sys_enter' || true
	else
		echo n/a
	fi
}

# with_state on|off: the with cluster fully on, or quiet for a without run
with_state() {
	local want=$1
	if [[ $(q "$PORT_WITH" "SHOW pg_postmaster_stats.enabled") != "$want" ]]; then
		set_reload "$PORT_WITH" pg_postmaster_stats.enabled "$want"
		if [[ $want == on ]]; then
			wait_source "$PORT_WITH" ebpf t
			wait_source "$PORT_WITH" snapshot_probe t
		else
			wait_source "$PORT_WITH" ebpf f
		fi
		# the loader's start (or the detach) and one more tick are not in the run
		pause 1.5
	fi
	# checked before every run, not only after a switch
	if [[ $want == on ]]; then
		[[ $(source_active "$PORT_WITH" ebpf)$(source_active "$PORT_WITH" snapshot_probe) == tt ]] ||
			die "ebpf or snapshot_probe not active before a with run"
	fi
}

scrapes_ok() { cut -d' ' -f1 "$WORK/scrapes"; }
scrapes_failed() { cut -d' ' -f2 "$WORK/scrapes"; }
exporter_ticks() { proc_cpu_ticks_with_children "$EXPORTER_PID"; }

CLK_TCK=$(getconf CLK_TCK)

# measure SIDE PGBENCH_ARGS...: one run of SIDE.  Sets RUN_TPS, RUN_CPU_US
# (server CPU per transaction), RUN_NEIGHBOUR_PCT (the other, idle cluster's
# CPU during the run, % of one core), RUN_SCRAPES, RUN_FAILED, RUN_BPF.
measure() {
	local side=$1 port dir other n0 c0 c1 o0 o1 e0=0 e1=0 s0 f0 t0 t1
	shift
	if [[ $side == with ]]; then
		with_state on
		port=$PORT_WITH dir=$DIR_WITH other=$DIR_WITHOUT
	else
		with_state off
		port=$PORT_WITHOUT dir=$DIR_WITHOUT other=$DIR_WITH
	fi
	# nothing dirty from the previous run is written during this one
	q "$PORT_WITH" "CHECKPOINT" >/dev/null
	q "$PORT_WITHOUT" "CHECKPOINT" >/dev/null
	RUN_BPF=$(bpf_programs)
	n0=$(cluster_children "$dir")
	c0=$(cluster_cpu_ticks "$dir")
	o0=$(cluster_cpu_ticks "$other")
	[[ $side == with ]] && e0=$(exporter_ticks)
	s0=$(scrapes_ok) f0=$(scrapes_failed)
	t0=${EPOCHREALTIME/./}
	[[ $side == with && $SCRAPE == 1 ]] && touch "$WORK/scraping"
	pgbench_once "$port" "$@"
	rm -f "$WORK/scraping"
	[[ -n $PGB_TPS && -n $PGB_TX ]] || die "no tps in pgbench output"
	wait_reaped "$dir" "$n0"
	c1=$(cluster_cpu_ticks "$dir")
	o1=$(cluster_cpu_ticks "$other")
	[[ $side == with ]] && e1=$(exporter_ticks)
	t1=${EPOCHREALTIME/./}
	RUN_TPS=$PGB_TPS
	read -r RUN_CPU_US RUN_NEIGHBOUR_PCT <<<"$(awk -v c=$((c1 - c0 + e1 - e0)) -v o=$((o1 - o0)) \
		-v hz="$CLK_TCK" -v tx="$PGB_TX" -v us=$((t1 - t0)) \
		'BEGIN { printf "%.1f %.2f\n", c * 1e6 / hz / tx, o / hz * 1e8 / us }')"
	RUN_SCRAPES="" RUN_FAILED=0
	if [[ $side == with ]]; then
		RUN_SCRAPES=$(($(scrapes_ok) - s0))
		RUN_FAILED=$(($(scrapes_failed) - f0))
	fi
}

# --- runs ----------------------------------------------------------------------------

log "pgbench -i -s $SCALE on both clusters"
pgbench_init "$PORT_WITH"
pgbench_init "$PORT_WITHOUT"
log "warm-up: ${WARMUP} s of pgbench -S per side"
for side in with without; do
	DURATION=$WARMUP measure "$side" -S
done

declare -A RESULT_LINES=()

# bench_workload NAME PGBENCH_ARGS...
bench_workload() {
	local name=$1 r side
	shift
	local -a tw=() tn=() cw=() cn=() pr=() nw=() nn=() sc=() bw=() bn=() order
	local failed=0
	for ((r = 1; r <= RUNS; r++)); do
		order=(with without)
		((r % 2 == 0)) && order=(without with)
		for side in "${order[@]}"; do
			measure "$side" "$@"
			if [[ $side == with ]]; then
				tw+=("$RUN_TPS") cw+=("$RUN_CPU_US") nw+=("$RUN_NEIGHBOUR_PCT")
				sc+=("$RUN_SCRAPES") bw+=("$RUN_BPF")
				failed=$((failed + RUN_FAILED))
			else
				tn+=("$RUN_TPS") cn+=("$RUN_CPU_US") nn+=("$RUN_NEIGHBOUR_PCT") bn+=("$RUN_BPF")
			fi
			log "$name round $r/$RUNS $side tps=$RUN_TPS server_cpu_us_per_tx=$RUN_CPU_US" \
				"idle_neighbour_cpu_pct=$RUN_NEIGHBOUR_PCT pps_bpf_programs=$RUN_BPF" \
				${RUN_SCRAPES:+"scrapes=$RUN_SCRAPES failed=$RUN_FAILED"}
		done
		pr+=("$(ratio "${tw[r - 1]}" "${tn[r - 1]}")")
	done

	local mw mn mcw mcn tps_ratio paired cpu_ratio
	mw=$(median_fmt %.1f "${tw[@]}")
	mn=$(median_fmt %.1f "${tn[@]}")
	mcw=$(median_fmt %.1f "${cw[@]}")
	mcn=$(median_fmt %.1f "${cn[@]}")
	tps_ratio=$(ratio "$mw" "$mn")
	paired=$(median_fmt %.3f "${pr[@]}")
	cpu_ratio=$(ratio "$mcn" "$mcw")
	emit "tps workload=$name with_median=$mw without_median=$mn ratio=$tps_ratio" \
		"paired_ratio_median=$paired paired_ratios=$(join_by , "${pr[@]}")" \
		"runs=$RUNS duration_s=$DURATION with_runs=$(join_by , "${tw[@]}") without_runs=$(join_by , "${tn[@]}")"
	emit "cpu_per_tx workload=$name with_server_us=$mcw without_server_us=$mcn ratio=$cpu_ratio" \
		"with_runs=$(join_by , "${cw[@]}") without_runs=$(join_by , "${cn[@]}")"
	emit "scrapes workload=$name per_with_run=$(join_by , "${sc[@]}") failed=$failed" \
		"pps_bpf_programs with_runs=$(join_by , "${bw[@]}") without_runs=$(join_by , "${bn[@]}")" \
		"idle_neighbour_cpu_pct during_with_runs=$(join_by , "${nw[@]}") during_without_runs=$(join_by , "${nn[@]}")"

	local met cmp ccmp
	if awk -v r="$tps_ratio" -v t="$TARGET" 'BEGIN { exit !(r >= t) }'; then
		met="≥ $TARGET: OK"
	else
		met="below $TARGET: not met"
	fi
	awk -v r="$cpu_ratio" -v t="$TARGET" 'BEGIN { exit !(r >= t) }' && ccmp="≥" || ccmp="<"
	cmp="ratio $tps_ratio (paired median $paired) $met; server CPU/tx ratio $cpu_ratio $ccmp $TARGET"
	((failed == 0)) || cmp+="; $failed failed scrapes"
	RESULT_LINES[$name]=$(printf 'RESULT\tcost_%s\tmedian %s tps (%d runs); CPU/tx %s µs\tmedian %s tps; CPU/tx %s µs\t%s' \
		"$name$([[ $SCRAPE == 1 ]] || echo _without_scrape)" "$mw" "$RUNS" "$mcw" "$mn" "$mcn" "$cmp")
}

for w in $COST_WORKLOADS; do
	cost_workload_args "$w"
	log "workload $w: pgbench ${WORKLOAD_ARGS[*]:-(tpcb-like)}"
	bench_workload "$w" "${WORKLOAD_ARGS[@]}"
done

# What the extension counted over the whole run: the hook and the sampler
# did fire (a sanity figure, not a timing).
with_state on
emit "with_counters $(q "$PORT_WITH" "SELECT 'connections_total=' || connections_total || ' samples_total=' || samples_total FROM pg_postmaster_stats")"
stop_ours

# --- summary ---------------------------------------------------------------------------
print_summary
print_identity "server $("$PGBIN/postgres" --version) exporter=\"$("$EXPORTER" --version 2>&1 | head -n 1)\" pgbench_c=$PGBENCH_CLIENTS pgbench_j=$PGBENCH_THREADS scale=$SCALE client_host=$([[ $CLIENT_HOST == "$WORK" ]] && echo unix-socket || echo "$CLIENT_HOST")" \
	"settings $(join_by ';' "${SETTINGS[@]}")"
load_line
for w in $COST_WORKLOADS; do
	echo "${RESULT_LINES[$w]}"
done
