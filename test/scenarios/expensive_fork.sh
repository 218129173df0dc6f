#!/usr/bin/env bash
#
# expensive_fork.sh - a postmaster whose every fork is expensive, 4 KiB
# pages vs transparent huge pages: does the extension show why the
# connection rate collapses, and what huge pages give back?  (issue 16)
#
# fork() copies the parent's page tables for its private memory that has
# pages.  The test fixture test/fatfork/ (a library preloaded before ours,
# never installed for users) maps and touches FATFORK_MB MiB of private
# memory in the postmaster: with 4 KiB pages every fork copies one entry
# per page; with pps_test_fatfork.hugepage = on (MADV_HUGEPAGE; transparent
# huge pages in madvise or always mode) one per 2 MiB.  One cluster, the
# same pgbench -C storm (CLIENTS clients, SELECT 1) with hugepage off, then
# restarted with it on.  Ours: the mean fork time (eBPF, weighted by forks),
# connections_per_s, postmaster_cpu_pct and postmaster_cpu_wait_pct,
# postmaster_pagetable_bytes, setup p99.
# Independently: pgbench's connection rate and average connection time,
# the postmaster's /proc schedstat, VmPTE of /proc/<pid>/status and the
# AnonHugePages of its /proc/<pid>/smaps_rollup.  The verdict is the
# extension's own diagnosis of the storm (pg_postmaster_stats_diagnose, with
# the remedy of postmaster_saturated), and what huge pages changed.
#
# Note: the kernel keeps a page-table page in reserve for every huge page
# it maps (so that it can split it later), so VmPTE, and with it
# postmaster_pagetable_bytes, is about the same with huge pages; what
# changes is what fork copies.
#
# The fixture must be installed (test/scenarios/run.sh does it; by hand:
# make -C test/fatfork install).  The memory is real: the scenario is not
# run when MemAvailable is below FATFORK_MB + 1 GiB.
#
# Usage (as root): test/scenarios/expensive_fork.sh
# Environment (defaults; QUICK=1 in brackets):
#   FATFORK_MB [4096] [2048]  private memory of the postmaster, MiB
#   FF_CLIENTS [4]            pgbench -C clients
#   FF_SECONDS [10] [5]       seconds of storm per side
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob FATFORK_MB 2048 4096
knob FF_SECONDS 5 10
FF_CLIENTS=${FF_CLIENTS:-4}
MAX_CONNECTIONS=50

scen_start expensive_fork
fixture="$("$PGBIN/pg_config" --pkglibdir)/pps_test_fatfork.so"
if [[ ! -f $fixture ]]; then
	result "not run" "$fixture missing" "not measured: the test fixture is not installed (make -C test/fatfork install)"
	exit 0
fi
avail_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
if ((avail_mb < FATFORK_MB + 1024)); then
	result "not run" "MemAvailable $avail_mb MiB" "not measured: $FATFORK_MB MiB for the postmaster plus 1 GiB are not available"
	exit 0
fi

PORT=$(pick_port "$SCEN_BASE_PORT")
HAS_CPU_WAIT=t

# measure: one storm on the running cluster "ff"; figures in F_<field>;
# then stop the cluster (its memory is freed at once)
measure() {
	wait_samples "$PORT" 2
	storm_figures "$PORT" "$FF_CLIENTS" "$FF_SECONDS"
	F_thp=$(awk '/^AnonHugePages:/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$PM_PID/smaps_rollup")
	F_conn_ms=$(sed -n -E 's/^average connection time = ([0-9.]+) ms/\1/p' "$WORK/step.out")
	read -r F_pcpu F_pwait _ <<<"$STEP_PROC"
	F_tps=$STEP_TPS
	F_diag=$(diagnosis "$PORT" "$STEP_T0" "$STEP_T1")
	F_remedy=$(q "$PORT" "SELECT remedy FROM pg_postmaster_stats_diagnose(timestamptz '$STEP_T1' - timestamptz '$STEP_T0', '$STEP_T1')
		WHERE finding = 'postmaster_saturated'")
	stop_cluster ff
	log "hugepage=$1: rate=$F_rate fork_us=$F_fork cpu=$F_cpu wait=$F_wait pte=$F_pte thp=$F_thp diag=$F_diag"
}

mib() { awk -v b="$1" 'BEGIN { if (b == "" || b == "n/a") print "n/a"; else printf "%.1f MiB", b / 1048576 }'; }

for hp in off on; do
	if [[ $hp == off ]]; then
		scen_cluster ff "$PORT" "shared_preload_libraries = 'pps_test_fatfork, pg_postmaster_stats'" \
			"pps_test_fatfork.size_mb = $FATFORK_MB" "pps_test_fatfork.hugepage = off"
	else
		echo "pps_test_fatfork.hugepage = on" | as_pg tee -a "$WORK/ff/postgresql.conf" >/dev/null
		as_pg "$PGBIN/pg_ctl" -D "$WORK/ff" -l "$WORK/ff.log" -w -t 120 start >/dev/null || die "could not restart cluster ff"
		STARTED_DATADIRS+=("$WORK/ff")
		scen_attach ff "$PORT"
	fi
	log "$(grep -a 'pps_test_fatfork: touched' "$WORK/ff.log" | tail -n 1)"
	measure "$hp"
	if [[ $hp == off ]]; then
		off=("$F_rate" "$F_fork" "$F_cpu" "$F_wait" "$F_pte" "$F_tps" "$F_conn_ms" "$F_p99")
		result "$FATFORK_MB MiB private memory in 4 KiB pages, pgbench -C -c $FF_CLIENTS: fork ${F_fork} µs, ${F_rate} conn/s, postmaster on CPU ${F_cpu} % + waiting ${F_wait} %, postmaster_pagetable_bytes $(mib "$F_pte"), accept queue max $F_qmax, setup p99 ${F_p99} s" \
			"pgbench ${F_tps} conn/s, average connection time ${F_conn_ms} ms; /proc: postmaster on CPU $F_pcpu %, waiting $F_pwait %, VmPTE $(mib "$F_vmpte"), AnonHugePages $F_thp" \
			"diagnosis: $F_diag${F_remedy:+; remedy: $F_remedy}"
	else
		result "the same memory with MADV_HUGEPAGE: fork ${F_fork} µs, ${F_rate} conn/s, postmaster on CPU ${F_cpu} % + waiting ${F_wait} %, postmaster_pagetable_bytes $(mib "$F_pte"), accept queue max $F_qmax, setup p99 ${F_p99} s" \
			"pgbench ${F_tps} conn/s, average connection time ${F_conn_ms} ms; /proc: postmaster on CPU $F_pcpu %, waiting $F_pwait %, VmPTE $(mib "$F_vmpte"), AnonHugePages $F_thp" \
			"diagnosis: $F_diag; huge pages vs 4 KiB pages: fork time $(reldiff "$F_fork" "${off[1]}") %, conn rate $(reldiff "$F_rate" "${off[0]}") % (issue 16's reference, 4 GiB: fork 77 ms -> 3 ms, 12 -> 150 conn/s)"
	fi
done
