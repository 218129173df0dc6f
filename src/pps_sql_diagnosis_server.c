/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_server.c
 *	  The findings about the server as a whole: cpu_throttled (its cgroup's
 *	  CPU limit), snapshot_cost_high, subtransaction_overflow,
 *	  replay_falling_behind, replay_paused, limit_near and source_inactive.
 *	  Each has a rule (does it hold in one sample) and a describer (what
 *	  the held samples say, what to change); pps_findings[] in
 *	  pps_sql_diagnosis_rules.c lists them with their thresholds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_sql_diagnosis_internal.h"

/* ---- cpu_throttled ---- */

bool
pps_holds_throttled(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return RATES(s, PPS_SRC_CGROUP_CPU) && !isnan(s->cgroup_throttled_periods_pct) &&
		s->cgroup_throttled_periods_pct >= pps_diag_throttled_pct;
}

void
pps_describe_throttled(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		limit = HAVG(h, cgroup_cpu_limit_cores);
	double		pct = HAVG(h, cgroup_throttled_periods_pct);
	double		lost = HAVG(h, cgroup_throttled_seconds_per_s);

	appendStringInfo(&out->summary,
					 "the server's cgroup, limited to %.2f CPU, was throttled in %.0f%% of its periods, losing %.2f s of CPU time per second, during ",
					 limit, pct, lost);
	pps_held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "cgroup_cpu_limit_cores", limit);
	pps_ev_num(&out->evidence, "cgroup_throttled_periods_pct", pct);
	pps_ev_num(&out->evidence, "cgroup_throttled_seconds_per_s", lost);
	pps_ev_num(&out->evidence, "postmaster_cpu_pct", HAVG(h, pm_cpu_pct));
	appendStringInfo(&out->remedy,
					 "Every process of the server, the postmaster included, stops until the next period when the quota is used up: raise the CPU limit (the container's limit, CPUQuota= of the service, cpu.max or cpu.cfs_quota_us; now %.2f CPU) or lower the load's parallelism (max_parallel_workers_per_gather, fewer server connections behind a pooler) to fit it",
					 limit);
}

/* ---- snapshot_cost_high, subtransaction_overflow ---- */

bool
pps_holds_snapshot_cost(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	if (!VALID(s, PPS_SRC_SNAPSHOT) || isnan(s->snapshot_ns) ||
		isnan(c->snapshot_base_ns) || c->snapshot_base_procs <= 0)
		return false;
	return s->snapshot_ns >= pps_diag_snapshot_factor * c->snapshot_base_ns &&
		s->snapshot_ns >= pps_diag_snapshot_floor_ns &&
		s->snapshot_procs >= pps_diag_snapshot_procs_factor * c->snapshot_base_procs;
}

void
pps_describe_snapshot_cost(const PpsDiagHeld *h, PpsDiagText *out)
{
	double		ns = HAVG(h, snapshot_ns);
	int32		procs = HMAX_I32(h, snapshot_procs);

	appendStringInfo(&out->summary,
					 "a snapshot cost %.0f ns, %.1f times its baseline of %.0f ns at %d processes, with %d processes in the proc array, during ",
					 ns, ns / h->ctx->snapshot_base_ns, h->ctx->snapshot_base_ns,
					 h->ctx->snapshot_base_procs, procs);
	pps_held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "snapshot_ns", ns);
	pps_ev_num(&out->evidence, "snapshot_ns_baseline", h->ctx->snapshot_base_ns);
	pps_ev_num(&out->evidence, "snapshot_procs", procs);
	pps_ev_num(&out->evidence, "snapshot_procs_baseline", h->ctx->snapshot_base_procs);
	pps_ev_num(&out->evidence, "snapshot_cpu_share_pct", HAVG(h, snapshot_cpu_share_pct));
	appendStringInfoString(&out->remedy,
						   "Every snapshot scans every connection, idle or not: fewer server connections (a pooler) and a max_connections that matches them; idle_session_timeout closes forgotten ones");
}

bool
pps_holds_subxact(const PpsDiagContext *c)
{
	return VALID(c->s, PPS_SRC_SNAPSHOT) && c->s->snapshot_suboverflowed;
}

void
pps_describe_subxact(const PpsDiagHeld *h, PpsDiagText *out)
{
	int64		age = HMAX_I64(h, snapshot_oldest_xid_age);

	appendStringInfoString(&out->summary,
						   "a transaction has more than 64 subtransactions, so every snapshot is overflowed and visibility checks read pg_subtrans, during ");
	pps_held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "snapshot_suboverflowed", 1);
	pps_ev_num(&out->evidence, "snapshot_oldest_xid_age", (double) age);
	appendStringInfoString(&out->remedy,
						   "Find the transaction (pg_stat_activity, backend_xid, the oldest xact_start) that opens more than 64 SAVEPOINTs or exception blocks and commit more often or use fewer of them");
}

/* ---- replay_falling_behind, replay_paused ---- */

bool
pps_holds_replay_behind(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return VALID(s, PPS_SRC_REPLAY) && s->replay_state == PPS_REPLAY_FALLING_BEHIND &&
		!isnan(s->replay_headroom) && s->replay_headroom < pps_diag_replay_headroom_max;
}

void
pps_describe_replay_behind(const PpsDiagHeld *h, PpsDiagText *out)
{
	int64		lag = HMAX_I64(h, replay_lag_bytes);

	appendStringInfo(&out->summary,
					 "replay fell behind during ");
	pps_held_span(h, &out->summary);
	appendStringInfo(&out->summary,
					 ": headroom %.2f, %.0f bytes/s replayed, lag up to %lld bytes, the startup process on a CPU %.0f%%",
					 HAVG(h, replay_headroom), HAVG(h, replay_rate_bytes_per_s),
					 (long long) lag, HAVG(h, startup_cpu_pct));
	pps_ev_num(&out->evidence, "replay_headroom", HAVG(h, replay_headroom));
	pps_ev_num(&out->evidence, "replay_lag_bytes", (double) lag);
	pps_ev_num(&out->evidence, "replay_lag_seconds", HMAX(h, replay_lag_seconds));
	pps_ev_num(&out->evidence, "replay_rate_bytes_per_s", HAVG(h, replay_rate_bytes_per_s));
	pps_ev_num(&out->evidence, "startup_cpu_pct", HAVG(h, startup_cpu_pct));
	appendStringInfoString(&out->remedy,
						   "Replay is one process and cannot catch up at this WAL rate: reduce WAL on the primary (full_page_writes with fewer checkpoints: raise max_wal_size, checkpoint_timeout; wal_compression), keep recovery_prefetch on, and give the standby a faster CPU");
}

bool
pps_holds_replay_paused(const PpsDiagContext *c)
{
	return VALID(c->s, PPS_SRC_REPLAY) && c->s->replay_state == PPS_REPLAY_PAUSED;
}

void
pps_describe_replay_paused(const PpsDiagHeld *h, PpsDiagText *out)
{
	int64		lag = HMAX_I64(h, replay_lag_bytes);

	appendStringInfoString(&out->summary, "WAL replay was paused during ");
	pps_held_span(h, &out->summary);
	appendStringInfo(&out->summary, "; %lld bytes received wait to be replayed", (long long) Max(lag, 0));
	pps_ev_num(&out->evidence, "replay_lag_bytes", (double) lag);
	appendStringInfoString(&out->remedy,
						   "SELECT pg_wal_replay_resume() when the pause is not intended (pg_get_wal_replay_pause_state() says whether it is requested or in effect)");
}

/* ---- limit_near ---- */

bool
pps_holds_limit_near(const PpsDiagContext *c)
{
	const PpsSample *s = c->s;

	return VALID(s, PPS_SRC_LIMITS) && s->limits_min_index >= 0 &&
		!isnan(s->limits_min_headroom_pct) &&
		s->limits_min_headroom_pct < pps_diag_headroom_pct;
}

void
pps_describe_limit_near(const PpsDiagHeld *h, PpsDiagText *out)
{
	const PpsSample *last = h->samples[h->n - 1];
	const PpsLimit *l = NULL;
	double		lowest = HMIN(h, limits_min_headroom_pct);

	if (h->limits && last->limits_min_index < h->limits->nlimits)
		l = &h->limits->limits[last->limits_min_index];

	if (l)
	{
		appendStringInfo(&out->summary,
						 "%s: headroom down to %.1f%% (now %.0f of %.0f %s used), during ",
						 l->name, lowest, l->current, l->maximum, l->unit);
		pps_ev_text(&out->evidence, "limits_min_name", l->name);
		pps_ev_num(&out->evidence, "current", l->current);
		pps_ev_num(&out->evidence, "maximum", l->maximum);
		appendStringInfoString(&out->remedy, l->hint);
	}
	else
	{
		appendStringInfo(&out->summary, "a limit had %.1f%% headroom at the lowest, during ", lowest);
		appendStringInfoString(&out->remedy, "pg_postmaster_stats_limits names the limit and what to change");
	}
	pps_held_span(h, &out->summary);
	pps_ev_num(&out->evidence, "limits_min_headroom_pct", lowest);
}

/* ---- source_inactive ---- */

/* the sources the findings read, and what each one's absence hides */
static const struct
{
	PpsSource	src;
	const char *hides;
} needed_sources[] = {
	{PPS_SRC_POSTMASTER, "postmaster_saturated, postmaster_cpu_starved"},
	{PPS_SRC_ACCEPT, "accept_backlog, listen_overflow"},
	{PPS_SRC_CONNSETUP, "connection_churn, slow_authentication"},
	{PPS_SRC_BGWORKERS, "bgworker_slots_exhausted"},
	{PPS_SRC_PARALLEL, "parallel_worker_churn"},
	{PPS_SRC_SNAPSHOT, "snapshot_cost_high, subtransaction_overflow"},
	{PPS_SRC_LIMITS, "limit_near"},
	{PPS_SRC_CGROUP_CPU, "cpu_throttled"},
	{PPS_SRC_EBPF, "exact fork and reap counts, fork latency and the forks share of parallel_worker_churn"},
};

bool
pps_holds_source_inactive(const PpsDiagContext *c)
{
	for (int i = 0; i < (int) lengthof(needed_sources); i++)
		if (!VALID(c->s, needed_sources[i].src))
			return true;
	return false;
}

void
pps_describe_source_inactive(const PpsDiagHeld *h, PpsDiagText *out)
{
	const PpsSample *last = h->samples[h->n - 1];
	bool		first = true;

	for (int i = 0; i < (int) lengthof(needed_sources); i++)
	{
		PpsSource	src = needed_sources[i].src;

		if (VALID(last, src))
			continue;
		appendStringInfo(&out->summary, "%s%s is inactive (hides %s)",
						 first ? "" : "; ", pps_shmem_source_name(src), needed_sources[i].hides);
		pps_ev_text(&out->evidence, pps_shmem_source_name(src), h->sources[src].detail);
		appendStringInfo(&out->remedy, "%s%s: %s", first ? "" : "; ",
						 pps_shmem_source_name(src), h->sources[src].detail);
		first = false;
	}
	if (first)
	{
		appendStringInfoString(&out->summary, "a source was inactive during ");
		pps_held_span(h, &out->summary);
		appendStringInfoString(&out->remedy, "pg_postmaster_stats_sources says which and why");
	}
}
