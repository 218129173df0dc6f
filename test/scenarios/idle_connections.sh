#!/usr/bin/env bash
#
# idle_connections.sh - what idle connections do to the cost of a snapshot
# (issue 9, scenario 4; the Microsoft article, shared/reference/002_*).
#
# Every GetSnapshotData() scans the proc array, so every established
# connection, idle or not, makes snapshots dearer.  One cluster, two
# phases: no idle connection, then IDLE_CONNECTIONS idle ones (one pgbench
# running test/workloads/idle_connections.sql: client-side sleeps).  In each
# phase a small active load commits xids (test/workloads/snapshot_heavy.sql,
# ACTIVE_CLIENTS clients), so snapshots are recomputed all the time.  Ours,
# over the phase's samples: snapshot_ns (median), snapshot_procs (median),
# the share of the server's CPU in GetSnapshotData (eBPF, weighted by
# server_oncpu_samples), and pg_postmaster_stats_snapshot's window figures.
# Independently: client backends in pg_stat_activity (the proc-array
# entries must grow by exactly as many) and the active load's pgbench TPS
# (the article's measure: what idle connections cost the working ones).
#
# Usage (as root): test/scenarios/idle_connections.sh
# Environment (defaults; QUICK=1 in brackets):
#   IDLE_CONNECTIONS [500] [200]
#   IDLE_SECONDS [15] [6]     seconds of active load per phase
#   ACTIVE_CLIENTS [2]
#
set -euo pipefail
# shellcheck source=../lib/scenario.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/scenario.sh"

knob IDLE_CONNECTIONS 200 500
knob IDLE_SECONDS 6 15
ACTIVE_CLIENTS=${ACTIVE_CLIENTS:-2}
MAX_CONNECTIONS=$((IDLE_CONNECTIONS + 50))

scen_start idle_connections
PORT=$(pick_port "$SCEN_BASE_PORT")
scen_cluster idle "$PORT"

# phase N: N idle connections, the active load, our figures in P_<field>
phase() {
	local n=$1 t0 t1
	if ((n > 0)); then
		start_idle_pgbench "$n" "$PORT"
		wait_for_clients "$n" "$PORT"
		wait_for_sample_with "$n" "$PORT"
	fi
	P_clients=$(q "$PORT" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
	t0=$(now_ts)
	"$PGBIN/pgbench" -n -c "$ACTIVE_CLIENTS" -j "$ACTIVE_CLIENTS" -T "$IDLE_SECONDS" -f "$WORKLOADS/snapshot_heavy.sql" \
		-h "$CLIENT_HOST" -p "$PORT" -U postgres postgres >"$WORK/active.out" 2>&1 ||
		{ cat "$WORK/active.out" >&2; die "pgbench failed"; }
	t1=$(now_ts)
	P_tps=$(sed -n -E 's/^tps = ([0-9]+\.?[0-9]?).*/\1/p' "$WORK/active.out" | head -n 1)
	IFS='|' read -r P_ns P_ns_max P_procs P_share P_samples P_n <<<"$(hist "$PORT" "$t0" "$t1" "
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY snapshot_ns)::numeric, 0),
		round(max(snapshot_ns_max)::numeric, 0),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY snapshot_procs),
		coalesce(round((sum(snapshot_cpu_share_pct * server_oncpu_samples)
			/ nullif(sum(server_oncpu_samples) FILTER (WHERE snapshot_cpu_share_pct IS NOT NULL), 0))::numeric, 2)::text, 'n/a'),
		coalesce(sum(server_oncpu_samples), 0),
		count(*)")"
	P_view=$(q "$PORT" "SELECT snapshot_ns || ' ns, procs_in_use ' || procs_in_use FROM pg_postmaster_stats_snapshot")
	P_diag=$(diagnosis "$PORT" "$t0" "$t1")
	log "phase $n idle: snapshot_ns $P_ns (max $P_ns_max), procs $P_procs, cpu share $P_share % of $P_samples samples, $P_tps tps, $P_clients client backends; view: $P_view"
	((n > 0)) && stop_idle_pgbench "$PORT"
	return 0
}

phase 0
z=("$P_ns" "$P_procs" "$P_share" "$P_tps" "$P_clients" "$P_samples" "$P_diag")
phase "$IDLE_CONNECTIONS"
m=("$P_ns" "$P_procs" "$P_share" "$P_tps" "$P_clients" "$P_samples" "$P_diag")
for i in 0 1; do
	if ((i == 0)); then v=("${z[@]}") n=0; else v=("${m[@]}") n=$IDLE_CONNECTIONS; fi
	result "$n idle: snapshot_ns ${v[0]} (median of the phase), snapshot_procs ${v[1]}, GetSnapshotData ${v[2]} % of the server's CPU (${v[5]} samples)" \
		"pg_stat_activity: ${v[4]} client backends; active load (snapshot_heavy, $ACTIVE_CLIENTS clients) ${v[3]} tps" \
		"$(if ((i == 0)); then echo baseline; else echo "snapshot cost x$(ratio "${m[0]}" "${z[0]}") of the baseline"; fi); diagnosis: ${v[6]}"
done
dprocs=$(awk -v a="${m[1]}" -v b="${z[1]}" 'BEGIN { print a - b }')
dclients=$((m[4] - z[4]))
result "0 -> $IDLE_CONNECTIONS idle: snapshot_ns ${z[0]} -> ${m[0]} (x$(ratio "${m[0]}" "${z[0]}")); snapshot_procs +$dprocs; CPU share ${z[2]} -> ${m[2]} %" \
	"client backends +$dclients; active load ${z[3]} -> ${m[3]} tps ($(reldiff "${m[3]}" "${z[3]}") %)" \
	"$([[ $dprocs == "$dclients" ]] && echo "proc-array growth identical to the idle connections" || echo "proc-array growth $dprocs vs $dclients client backends"); every snapshot scans them: each costs x$(ratio "${m[0]}" "${z[0]}") (the article, PG12: TPS halved at 10,000 idle)"
