#!/usr/bin/env bash
#
# connection_storm.sh - does the extension show where a connection storm
# saturates, and is that the postmaster?  (issue 9, scenario 1)
#
# Ramps concurrent pgbench -C clients (a new connection per SELECT 1) step
# by step until the connection rate stops rising.  Per step, from our views
# (the history samples that lie inside the step): connections_per_s,
# postmaster_cpu_pct, postmaster_cpu_wait_pct when the installed version has
# it, accept_queue_depth (max), connection_setup_p99_seconds (max), the mean
# fork time (eBPF).  Independently, over the same step: pgbench's own
# connection rate, the postmaster's on-CPU and run-queue time from
# /proc/<pid>/schedstat, the machine's CPU use from /proc/stat, and the
# listen queues' Recv-Q from ss.
#
# The verdict is the extension's own diagnosis (pg_postmaster_stats_diagnose)
# of the saturating step: postmaster_saturated when its loop is the limit,
# postmaster_cpu_starved when it waits for the CPUs the backends take, and
# accept_backlog / connection_churn beside them (docs/diagnosis.md).
# On a 2-vCPU machine the backends and pgbench compete with the postmaster
# for the CPUs, so "waiting for a CPU" is part of the answer: on-CPU alone
# may never reach 100 %.
#
# Usage (as root): test/scenarios/connection_storm.sh
# Environment (defaults; QUICK=1 in brackets):
#   STORM_CLIENTS ["1 2 4 8 16 32"] ["1 4 16"]  client counts of the ramp
#   MAX_CLIENTS [32]      skip steps above it
#   STEP_SECONDS [10] [5] seconds per step
#   PLATEAU_STEPS [2] [1] steps without a 5 % gain that end the ramp
#   CLIENT_HOST [socket dir]  where pgbench connects (or 127.0.0.1)
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob STORM_CLIENTS "1 4 16" "1 2 4 8 16 32"
knob STEP_SECONDS 5 10
knob PLATEAU_STEPS 1 2
MAX_CLIENTS=${MAX_CLIENTS:-32}
MAX_CONNECTIONS=$((MAX_CLIENTS + 20))

scen_start connection_storm
PORT=$(pick_port "$SCEN_BASE_PORT")
scen_cluster storm "$PORT"
HAS_CPU_WAIT=$(has_column "$PORT" pg_postmaster_stats_history postmaster_cpu_wait_pct)
log "postmaster pid $PM_PID, eBPF $EBPF, postmaster_cpu_wait_pct column: $HAS_CPU_WAIT"
BASE_CHILDREN=$(cluster_children "$WORK/storm")
wait_samples "$PORT" 2

best_rate=0 best_step="" flat=0 first_p99=""
declare -A S	# per step: the figures the verdict needs, by "clients,field"
steps=()
for c in $STORM_CLIENTS; do
	((c <= MAX_CLIENTS)) || continue
	log "step: $c clients, $STEP_SECONDS s"
	storm_step "$PORT" "$c" "$STEP_SECONDS"
	IFS='|' read -r rate cpu wait qmax qmed p99 fork_us forks n <<<"$(step_ours "$PORT" "$STEP_T0" "$STEP_T1")"
	read -r p_cpu p_wait p_stat <<<"$STEP_PROC"
	read -r ss_max ss_med ss_n ss_cap <<<"$STEP_SS"
	[[ $EBPF == t ]] || fork_us=n/a
	[[ -n $first_p99 ]] || first_p99=$p99
	steps+=("$c")
	S[$c,rate]=$rate S[$c,cpu]=$cpu S[$c,wait]=$wait S[$c,qmax]=$qmax S[$c,p99]=$p99
	S[$c,fork]=$fork_us S[$c,tps]=$STEP_TPS S[$c,pcpu]=$p_cpu S[$c,pwait]=$p_wait S[$c,busy]=$STEP_BUSY
	S[$c,ssmax]=$ss_max S[$c,t0]=$STEP_T0 S[$c,t1]=$STEP_T1
	if [[ $best_rate == 0 ]]; then gain="first step"; else gain="$(reldiff "$rate" "$best_rate") % vs the best step before"; fi
	result "c=$c: $rate conn/s, postmaster CPU $cpu % (waiting for a CPU: $wait %), accept queue max $qmax (median $qmed), setup p99 ${p99} s, fork ${fork_us} µs, forks ${forks}/s ($n samples)" \
		"pgbench $STEP_TPS conn/s; /proc: postmaster on CPU $p_cpu % (stat $p_stat %), waiting $p_wait %; CPUs $STEP_BUSY % busy; ss Recv-Q max $ss_max median $ss_med ($ss_n samples)" \
		"conn rate: $gain"
	if awk -v r="$rate" -v b="$best_rate" 'BEGIN { exit !(r > b * 1.05) }'; then
		best_rate=$rate best_step=$c flat=0
	else
		awk -v r="$rate" -v b="$best_rate" 'BEGIN { exit !(r > b) }' && best_rate=$rate best_step=$c
		flat=$((flat + 1))
	fi
	# the next step starts when this one's backends are gone
	wait_children storm "$BASE_CHILDREN"
	if ((flat >= PLATEAU_STEPS)); then
		log "connection rate stopped rising: ending the ramp"
		break
	fi
done

# --- verdict at the saturating step: the extension's diagnosis of it -------------
c=$best_step
wait_pct=${S[$c,wait]}
bottleneck="diagnosis: $(diagnosis "$PORT" "${S[$c,t0]}" "${S[$c,t1]}")"
backlog="accept queue max ${S[$c,qmax]} (ss saw ${S[$c,ssmax]})"
if [[ ${S[$c,qmax]} -gt 0 || ${S[$c,ssmax]} -gt 0 ]]; then
	backlog+=": connections waited for accept()"
else
	backlog+=": no backlog, the postmaster kept up with accept()"
fi
result "saturation at c=$c: ${S[$c,rate]} conn/s; postmaster CPU ${S[$c,cpu]} % + waiting $wait_pct %; ${backlog%%:*}; setup p99 $first_p99 s at c=${steps[0]} -> ${S[$c,p99]} s; fork ${S[$c,fork]} µs" \
	"pgbench ${S[$c,tps]} conn/s; CPUs ${S[$c,busy]} % busy; postmaster /proc on CPU ${S[$c,pcpu]} %, waiting ${S[$c,pwait]} %" \
	"$bottleneck; $backlog; saturation rate on this machine ${S[$c,rate]} conn/s (the article: ~1400/s on a 32-vCPU r8g.8xlarge)"
