#!/usr/bin/env bash
#
# huge_pages.sh - the connection storm with a large shared_buffers, huge
# pages off vs on: what do page-table size and fork latency do?  (issue 9,
# scenario 3)
#
# The article measured ~20 % less fork cost with huge pages: fork copies
# the parent's page tables, and 2 MiB pages need 512 times fewer entries for
# the same shared memory.  One cluster, under the same pgbench -C storm
# with huge_pages = off, then restarted with huge_pages = on.  Ours:
# postmaster_pagetable_bytes (max over the storm), the mean fork time
# (eBPF, weighted by forks), connections_per_s, setup p99.  Independently:
# VmPTE of /proc/<postmaster>/status read by this script, pgbench's
# connection rate, and the huge pages the kernel reports in use.
#
# Huge pages need a pool (vm.nr_hugepages).  The script sizes it from the
# server's own shared_memory_size_in_huge_pages, adds it to the pool as
# root, and always puts the original value back at exit (after the cluster
# has stopped, or, on an error path, at once: pages still in use then
# become surplus pages the kernel frees when the cluster releases them).
# While the pool is grown, any other cluster starting on the machine with
# the default huge_pages = try takes pages from it too (its pages become
# surplus pages at the restore and are freed when it stops): the window is
# kept to the "on" storm alone.
# If the pool cannot be grown (no root, a read-only /proc/sys in a
# container, not enough contiguous memory), the "on" side is not run and
# the verdict says why; the "off" figures are still reported.
#
# Usage (as root): test/scenarios/huge_pages.sh
# Environment (defaults; QUICK=1 in brackets):
#   SHARED_BUFFERS [2GB] [1GB]
#   HP_CLIENTS [8]          pgbench -C clients
#   HP_SECONDS [10] [6]     seconds of storm per side
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob SHARED_BUFFERS 1GB 2GB
knob HP_SECONDS 6 10
HP_CLIENTS=${HP_CLIENTS:-8}
MAX_CONNECTIONS=50
NR_HUGEPAGES=/proc/sys/vm/nr_hugepages

scen_start huge_pages
HP_ORIG=$(<"$NR_HUGEPAGES")
HP_CHANGED=0
hp_restore() {
	if [[ $HP_CHANGED == 1 ]]; then
		echo "$HP_ORIG" >"$NR_HUGEPAGES" 2>/dev/null || log "WARNING: could not restore vm.nr_hugepages to $HP_ORIG"
		HP_CHANGED=0
		log "vm.nr_hugepages restored to $(<"$NR_HUGEPAGES")"
	fi
}
# the pool is restored on every exit; bench_cleanup reads the exit status
# from $?, hence the (exit "$rc")
hp_exit() {
	local rc=$?
	hp_restore
	(exit "$rc")
	bench_cleanup
}
trap hp_exit EXIT

PORT=$(pick_port "$SCEN_BASE_PORT")

# measure: one storm on the running cluster "hp", its figures in F_<field>,
# then stop the cluster
measure() {
	wait_samples "$PORT" 2
	storm_figures "$PORT" "$HP_CLIENTS" "$HP_SECONDS"
	F_hp_used=$(awk '/^HugePages_Total:/ { t = $2 } /^HugePages_Free:/ { f = $2 } END { print t - f }' /proc/meminfo)
	F_tps=$STEP_TPS F_setting=$(q "$PORT" "SHOW huge_pages")
	stop_cluster hp
	log "huge_pages=$F_setting rate=$F_rate pte=$F_pte vmpte=$F_vmpte fork_us=$F_fork hp_used=$F_hp_used"
}

# free_hp: huge pages free and not reserved by anyone
free_hp() { awk '/^HugePages_Free:/ { f = $2 } /^HugePages_Rsvd:/ { r = $2 } END { print f - r }' /proc/meminfo; }

scen_cluster hp "$PORT" "shared_buffers = '$SHARED_BUFFERS'" "huge_pages = off"
measure
off=("$F_rate" "$F_pte" "$F_vmpte" "$F_fork" "$F_p99" "$F_tps" "$F_cpu")
mib() { awk -v b="$1" 'BEGIN { if (b == "" || b == "n/a") print "n/a"; else printf "%.2f MiB", b / 1048576 }'; }
result "huge_pages=off, shared_buffers=$SHARED_BUFFERS: postmaster_pagetable_bytes $(mib "${off[1]}"), fork ${off[3]} µs, ${off[0]} conn/s, setup p99 ${off[4]} s, postmaster CPU ${off[6]} %" \
	"/proc VmPTE $(mib "${off[2]}"); pgbench ${off[5]} conn/s" \
	"$([[ ${off[1]} == "${off[2]}" ]] && echo "page-table size identical to /proc" || echo "page tables: ours $(mib "${off[1]}") (max over the storm) vs /proc $(mib "${off[2]}") after it")"

# --- huge pages on: grow the pool, or say why not --------------------------------
why_not=""
need=$(as_pg "$PGBIN/postgres" -D "$WORK/hp" -C shared_memory_size_in_huge_pages 2>&1) || why_not="postgres -C shared_memory_size_in_huge_pages failed: $need"
if [[ -z $why_not ]]; then
	want=$((HP_ORIG + need))
	if [[ $EUID -ne 0 ]]; then
		why_not="not root: vm.nr_hugepages cannot be raised (the pool has $HP_ORIG pages, $need needed)"
	elif ! (echo "$want" >"$NR_HUGEPAGES") 2>"$WORK/hp.err"; then
		why_not="writing $want to $NR_HUGEPAGES failed ($(tr '\n' ' ' <"$WORK/hp.err")): the container does not allow it"
	else
		HP_CHANGED=1
		got=$(<"$NR_HUGEPAGES")
		((got >= want)) || why_not="the kernel gave $got of the $want huge pages asked for (memory too fragmented for $need contiguous 2 MiB pages)"
	fi
fi
if [[ -n $why_not ]]; then
	hp_restore
	result "huge_pages=on: not run" "HugePages_Total $(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)" "not measured: $why_not"
	exit 0
fi
log "vm.nr_hugepages $HP_ORIG -> $want ($need for the cluster)"
# the same cluster, restarted with huge pages: nothing else differs, and no
# initdb runs while the pool is grown.  Another cluster starting on the
# machine meanwhile with the default huge_pages = try takes pages from the
# pool too: a start that fails for want of pages tops the pool up by what
# is missing and tries again.
echo "huge_pages = on" | as_pg tee -a "$WORK/hp/postgresql.conf" >/dev/null
for try in 1 2 3; do
	if as_pg "$PGBIN/pg_ctl" -D "$WORK/hp" -l "$WORK/hp.log" -w -t 120 start >/dev/null; then
		STARTED_DATADIRS+=("$WORK/hp")
		break
	fi
	((try < 3)) || why_not="the server could not map its shared memory in huge pages 3 times (free: $(free_hp) of $need needed; other processes take them)"
	[[ -z $why_not ]] || break
	want=$(($(<"$NR_HUGEPAGES") + need - $(free_hp)))
	log "start failed with $(free_hp) free huge pages: pool -> $want"
	echo "$want" >"$NR_HUGEPAGES" 2>/dev/null || true
done
if [[ -n $why_not ]]; then
	hp_restore
	result "huge_pages=on: not run" "HugePages_Total $(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)" "not measured: $why_not"
	exit 0
fi
scen_attach hp "$PORT"
measure
hp_restore
on=("$F_rate" "$F_pte" "$F_vmpte" "$F_fork" "$F_p99" "$F_tps" "$F_cpu")
result "huge_pages=on ($need huge pages): postmaster_pagetable_bytes $(mib "${on[1]}"), fork ${on[3]} µs, ${on[0]} conn/s, setup p99 ${on[4]} s, postmaster CPU ${on[6]} %" \
	"/proc VmPTE $(mib "${on[2]}"); huge pages in use during the storm $F_hp_used; pgbench ${on[5]} conn/s" \
	"on vs off: page tables $(reldiff "${on[1]}" "${off[1]}") %, fork time $(reldiff "${on[3]}" "${off[3]}") %, conn rate $(reldiff "${on[0]}" "${off[0]}") % (the article: ~20 % less fork cost)"
