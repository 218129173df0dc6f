/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_rules.c
 *	  The findings of the diagnosis and their thresholds, each listed once:
 *	  pps_findings[] (name, severity, run length, the rule and describer)
 *	  and pps_thresholds[], which pg_postmaster_stats_diagnosis_rules shows
 *	  and a test checks docs/diagnosis.md against.  The rules and
 *	  describers themselves are in pps_sql_diagnosis_postmaster.c (the
 *	  postmaster, connections, workers) and pps_sql_diagnosis_server.c
 *	  (the server as a whole: CPU limit, snapshots, replay, limits,
 *	  sources).
 *
 * A rule reads one sample and never a source the sample says did not
 * answer (its bit in "valid" is clear), so a missing source makes a
 * finding silent, never wrong; source_inactive says what is missing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/float.h"

#include "pps_guc.h"
#include "pps_sql_diagnosis_internal.h"

/* settings an operator may reasonably set otherwise (pg_postmaster_stats.diagnosis_*) */
int			pps_diag_busy_pct = 90;
int			pps_diag_setup_ms = 100;
int			pps_diag_headroom_pct = 10;
int			pps_diag_churn_per_s = 20;

/* constants: documented in docs/diagnosis.md, checked there by 050_diagnosis_rules */
const double pps_diag_starved_wait_pct = 50;	/* waiting for a CPU, % of the interval */
const double pps_diag_idle_busy_pct = 50; /* "not busy" for slow_authentication */
const double pps_diag_throttled_pct = 5;	/* CFS periods throttled, % */
const double pps_diag_churn_lifetime_s = 1;	/* estimated mean session lifetime */
const double pps_diag_parallel_share_pct = 30;	/* of the postmaster's forks */
const double pps_diag_parallel_min_per_s = 5; /* workers launched per second */
const double pps_diag_snapshot_factor = 4;	/* snapshot_ns over its baseline */
/*
 * Keeps a tiny baseline's noise from counting as growth.  Not higher: 500
 * idle connections took the probe from 40 to 230-270 ns on one machine
 * (105 to 742 ns on another), several-fold growth either way.
 */
const double pps_diag_snapshot_floor_ns = 150;
const double pps_diag_snapshot_procs_factor = 2;	/* proc array over its baseline */
const double pps_diag_replay_headroom_max = 1;
const double pps_diag_pagetable_big_bytes = 4.0 * 1024 * 1024;
const double pps_diag_fork_slow_seconds = 0.005;

const PpsThreshold pps_thresholds[] = {
	{"postmaster_saturated", "busy_pct", "% of the interval", "pg_postmaster_stats.diagnosis_busy_pct",
	 NULL, &pps_diag_busy_pct,
	"postmaster_cpu_pct + postmaster_cpu_wait_pct >= busy_pct, postmaster_cpu_pct >= postmaster_cpu_wait_pct, while connections arrive or queue"},
	{"postmaster_saturated", "fork_slow_seconds", "s", NULL, &pps_diag_fork_slow_seconds, NULL,
	"the remedy names huge pages when fork_avg_seconds (with ebpf_syscalls = off: fork_cpu_avg_seconds) >= fork_slow_seconds (eBPF)"},
	{"postmaster_saturated", "pagetable_big_bytes", "bytes", NULL, &pps_diag_pagetable_big_bytes, NULL,
	"without eBPF's fork time, the remedy names huge pages when postmaster_pagetable_bytes >= pagetable_big_bytes"},
	{"postmaster_cpu_starved", "starved_wait_pct", "% of the interval", NULL, &pps_diag_starved_wait_pct, NULL,
	"postmaster_cpu_wait_pct >= starved_wait_pct and above postmaster_cpu_pct, while connections arrive or queue"},
	{"cpu_throttled", "throttled_pct", "% of CFS periods", NULL, &pps_diag_throttled_pct, NULL,
	"cgroup_throttled_periods_pct >= throttled_pct"},
	{"accept_backlog", NULL, NULL, NULL, NULL, NULL,
	"accept_queue_depth > 0 in 2 successive samples or more"},
	{"listen_overflow", NULL, NULL, NULL, NULL, NULL,
	"listen_drops_per_s > 0"},
	{"connection_churn", "churn_per_s", "connections/s", "pg_postmaster_stats.diagnosis_churn_per_s",
	 NULL, &pps_diag_churn_per_s,
	"connections_per_s >= churn_per_s and client_backends / connections_per_s < churn_lifetime_s"},
	{"connection_churn", "churn_lifetime_s", "s", NULL, &pps_diag_churn_lifetime_s, NULL,
	"the mean session lifetime, estimated as client_backends / connections_per_s (Little's law)"},
	{"parallel_worker_churn", "parallel_share_pct", "% of forks", NULL, &pps_diag_parallel_share_pct, NULL,
	"parallel_workers_launched_per_s >= parallel_min_per_s and >= parallel_share_pct of forks_per_s (without eBPF: of connections_per_s + parallel_workers_launched_per_s), or parallel_workers_planned_per_s > parallel_workers_launched_per_s"},
	{"parallel_worker_churn", "parallel_min_per_s", "workers/s", NULL, &pps_diag_parallel_min_per_s, NULL,
	"see parallel_share_pct"},
	{"bgworker_slots_exhausted", NULL, NULL, NULL, NULL, NULL,
	"bgworker_slots_in_use >= max_worker_processes"},
	{"slow_authentication", "setup_ms", "ms", "pg_postmaster_stats.diagnosis_setup_ms",
	 NULL, &pps_diag_setup_ms,
	"connection_setup_p99_seconds >= setup_ms while postmaster_cpu_pct + postmaster_cpu_wait_pct < idle_busy_pct"},
	{"slow_authentication", "idle_busy_pct", "% of the interval", NULL, &pps_diag_idle_busy_pct, NULL,
	"see setup_ms"},
	{"snapshot_cost_high", "snapshot_factor", "times", NULL, &pps_diag_snapshot_factor, NULL,
	"snapshot_ns >= snapshot_factor x the history's lowest snapshot_ns, snapshot_ns >= snapshot_floor_ns, snapshot_procs >= snapshot_procs_factor x snapshot_procs of that sample"},
	{"snapshot_cost_high", "snapshot_floor_ns", "ns", NULL, &pps_diag_snapshot_floor_ns, NULL,
	"see snapshot_factor"},
	{"snapshot_cost_high", "snapshot_procs_factor", "times", NULL, &pps_diag_snapshot_procs_factor, NULL,
	"see snapshot_factor"},
	{"subtransaction_overflow", NULL, NULL, NULL, NULL, NULL,
	"snapshot_suboverflowed"},
	{"replay_falling_behind", "replay_headroom_max", "ratio", NULL, &pps_diag_replay_headroom_max, NULL,
	"pg_postmaster_stats_replay.state = falling_behind (the backlog grows) and replay_headroom < replay_headroom_max, in 3 successive samples or more"},
	{"replay_paused", NULL, NULL, NULL, NULL, NULL,
	"pg_postmaster_stats_replay.state = paused"},
	{"limit_near", "headroom_pct", "%", "pg_postmaster_stats.diagnosis_headroom_pct",
	 NULL, &pps_diag_headroom_pct,
	"limits_min_headroom_pct < headroom_pct"},
	{"source_inactive", NULL, NULL, NULL, NULL, NULL,
	"a source the findings need did not answer"},
};
const int	pps_nthresholds = lengthof(pps_thresholds);

double
pps_threshold_value(const PpsThreshold *t)
{
	if (t->value_f)
		return *t->value_f;
	if (t->value_i)
		return (double) *t->value_i;
	return get_float8_nan();
}

const char *
pps_severity_name(PpsSeverity s)
{
	switch (s)
	{
		case PPS_SEV_CRITICAL:
			return "critical";
		case PPS_SEV_WARNING:
			return "warning";
		default:
			return "info";
	}
}

/* ---- the list; its order is the order of equal-severity rows ---- */

const PpsFinding pps_findings[] = {
	{"postmaster_saturated", PPS_SEV_CRITICAL, 3,
		"{pg_postmaster_stats_history,pg_postmaster_stats_children}",
	pps_holds_saturated, pps_describe_saturated},
	{"postmaster_cpu_starved", PPS_SEV_CRITICAL, 3,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	pps_holds_starved, pps_describe_starved},
	{"listen_overflow", PPS_SEV_CRITICAL, 1,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	pps_holds_listen_overflow, pps_describe_listen_overflow},
	{"replay_falling_behind", PPS_SEV_CRITICAL, 3,
		"{pg_postmaster_stats_replay,pg_postmaster_stats_history}",
	pps_holds_replay_behind, pps_describe_replay_behind},
	{"cpu_throttled", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	pps_holds_throttled, pps_describe_throttled},
	{"accept_backlog", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_history,pg_postmaster_stats}",
	pps_holds_accept_backlog, pps_describe_accept_backlog},
	{"connection_churn", PPS_SEV_WARNING, 3,
		"{pg_postmaster_stats_history,pg_postmaster_stats_clients,pg_postmaster_stats_latency}",
	pps_holds_churn, pps_describe_churn},
	{"parallel_worker_churn", PPS_SEV_WARNING, 3,
		"{pg_postmaster_stats_bgworkers,pg_postmaster_stats_parallel_queries,pg_postmaster_stats_history}",
	pps_holds_parallel_churn, pps_describe_parallel_churn},
	{"bgworker_slots_exhausted", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_bgworkers,pg_stat_activity}",
	pps_holds_bgw_exhausted, pps_describe_bgw_exhausted},
	{"slow_authentication", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_latency,pg_postmaster_stats_history}",
	pps_holds_slow_auth, pps_describe_slow_auth},
	{"snapshot_cost_high", PPS_SEV_WARNING, 2,
		"{pg_postmaster_stats_snapshot,pg_postmaster_stats_history}",
	pps_holds_snapshot_cost, pps_describe_snapshot_cost},
	{"subtransaction_overflow", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_snapshot,pg_stat_activity}",
	pps_holds_subxact, pps_describe_subxact},
	{"replay_paused", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_replay}",
	pps_holds_replay_paused, pps_describe_replay_paused},
	{"limit_near", PPS_SEV_WARNING, 1,
		"{pg_postmaster_stats_limits}",
	pps_holds_limit_near, pps_describe_limit_near},
	{"source_inactive", PPS_SEV_INFO, 5,
		"{pg_postmaster_stats_sources}",
	pps_holds_source_inactive, pps_describe_source_inactive},
};
const int	pps_nfindings = lengthof(pps_findings);
