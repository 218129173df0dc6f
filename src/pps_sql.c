/*-------------------------------------------------------------------------
 *
 * pps_sql.c
 *	  SQL-callable functions behind the pg_postmaster_stats views.
 *
 * Every function reads shared memory without locks (see pps_shmem.c) and
 * copies what it needs before building tuples, so a slow client never
 * holds anything the sampler or the connection hook needs.  A value whose
 * source did not answer, or a rate without a previous sample, is NULL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_shmem_overhead.h"
#include "pps_shmem_attrib.h"
#include "pps_sql.h"
#include "pps_worker.h"
#include "source_children.h"
#include "source_limits.h"
#include "source_postmaster.h"
#include "source_replay.h"

PPS_SQL_FUNCTION(pg_postmaster_stats_current)
PPS_SQL_FUNCTION(pg_postmaster_stats_history)
PPS_SQL_FUNCTION(pg_postmaster_stats_latency)
PPS_SQL_FUNCTION(pg_postmaster_stats_children)
PPS_SQL_FUNCTION(pg_postmaster_stats_sources)
PPS_SQL_FUNCTION(pg_postmaster_stats_reset)
PPS_SQL_FUNCTION(pg_postmaster_stats_bgworkers)
PPS_SQL_FUNCTION(pg_postmaster_stats_snapshot_probe)
PPS_SQL_FUNCTION(pg_postmaster_stats_limits)

void
pps_row_start(PpsRow *row, TupleDesc tupdesc)
{
	row->ncols = tupdesc->natts;
	row->values = palloc0(sizeof(Datum) * row->ncols);
	row->nulls = palloc0(sizeof(bool) * row->ncols);
	row->col = 0;
}

void
pps_row_put(PpsRow *row, bool isnull, Datum value)
{
	if (row->col >= row->ncols)
		elog(ERROR, "pg_postmaster_stats: more values than columns");
	row->nulls[row->col] = isnull;
	row->values[row->col] = isnull ? (Datum) 0 : value;
	row->col++;
}

void
pps_row_float(PpsRow *row, bool valid, double v)
{
	pps_row_put(row, !valid || isnan(v), Float8GetDatum(v));
}

void
pps_row_int4(PpsRow *row, bool valid, int32 v)
{
	pps_row_put(row, !valid || v < 0, Int32GetDatum(v));
}

void
pps_row_int8(PpsRow *row, bool valid, int64 v)
{
	pps_row_put(row, !valid || v < 0, Int64GetDatum(v));
}

void
pps_row_check(PpsRow *row)
{
	if (row->col != row->ncols)
		elog(ERROR, "pg_postmaster_stats: %d values for %d columns; is the extension's SQL up to date?",
			 row->col, row->ncols);
}

/*
 * Set up a materialized set-returning function; returns its tupdesc.  Like
 * every SQL entry point, first checks that the library is preloaded.
 */
TupleDesc
pps_srf_start(FunctionCallInfo fcinfo, Tuplestorestate **store)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext oldcxt;

	pps_shmem_require_loaded();
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	*store = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = *store;
	rsinfo->setDesc = tupdesc;
	return tupdesc;
}

uint64
pps_sql_enter(void)
{
	return pps_ovh_thread_cpu_ns();
}

void
pps_sql_leave(uint64 start)
{
	if (pps_shared == NULL)
		return;
	pg_atomic_fetch_add_u64(&pps_shared->ovh.sql_ns, pps_ovh_thread_cpu_ns() - start);
	pg_atomic_fetch_add_u64(&pps_shared->ovh.sql_calls, 1);
}

#define HAS(s, src) (((s)->valid & PPS_SRC_BIT(src)) != 0)

/* Start a one-row function that shows the latest sample (zeroes if none). */
static TupleDesc
pps_one_row_start(FunctionCallInfo fcinfo, PpsSample *latest, bool *have)
{
	TupleDesc	tupdesc;

	pps_shmem_require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	*have = pps_shmem_ring_latest(latest);
	if (!*have)
		memset(latest, 0, sizeof(PpsSample));
	return tupdesc;
}

static uint64
pps_atomic_sum(pg_atomic_uint64 *v, int n)
{
	uint64		total = 0;

	for (int i = 0; i < n; i++)
		total += pg_atomic_read_u64(&v[i]);
	return total;
}

static int32
pps_children_of(const PpsSample *s, BackendType t)
{
	return (int32) s->children_by_type[t];
}

static Datum
pg_postmaster_stats_current_body(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PpsSample	s;
	bool		have;
	PpsRow		row;
	PpsHistogramCopy hist;
	uint32		worker_pid;
	bool		bpf;
	bool		cg;

	tupdesc = pps_one_row_start(fcinfo, &s, &have);
	bpf = have && HAS(&s, PPS_SRC_EBPF);
	pps_hist_copy(&pps_shared->conn_setup, &hist);
	worker_pid = pg_atomic_read_u32(&pps_shared->worker_pid);

	pps_row_start(&row, tupdesc);
	pps_row_put(&row, !have, TimestampTzGetDatum(s.time));
	pps_row_put(&row, false, Int32GetDatum(PostmasterPid));
	pps_row_put(&row, worker_pid == 0, Int32GetDatum((int32) worker_pid));
	pps_row_float(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_cpu_pct);
	pps_row_float(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_cpu_user_pct);
	pps_row_float(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_cpu_system_pct);
	pps_row_float(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_cpu_wait_pct);
	pps_row_int8(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_rss_bytes);
	pps_row_int8(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_pagetable_bytes);
	pps_row_int4(&row, have && HAS(&s, PPS_SRC_POSTMASTER), s.pm_children);
	pps_row_int4(&row, have && HAS(&s, PPS_SRC_ACCEPT), s.accept_queue_depth);
	pps_row_int4(&row, have && HAS(&s, PPS_SRC_ACCEPT), s.accept_queue_max);
	pps_row_int4(&row, have && HAS(&s, PPS_SRC_ACCEPT), s.listen_sockets);
	pps_row_float(&row, have && HAS(&s, PPS_SRC_ACCEPT), s.listen_drops_per_s);
	pps_row_int8(&row, have && HAS(&s, PPS_SRC_ACCEPT), s.listen_drops_total);
	pps_row_float(&row, have, s.connections_per_s);
	pps_row_float(&row, have, s.conn_setup_p99_seconds);
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->connections_total));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->auth_failures_total));
	pps_row_float(&row, true, hist.sum_us * PPS_HIST_UNIT_US);
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->parallel_planned_total));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->parallel_launched_total));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->bgw_registrations_total));
	pps_row_int8(&row, bpf, (int64) pg_atomic_read_u64(&pps_shared->bpf_forks_total));
	pps_row_int8(&row, bpf, (int64) pps_atomic_sum(pps_shared->bpf_exits_total, PPS_BPF_NCHILD_TYPES));
	pps_row_int8(&row, bpf, (int64) pps_atomic_sum(pps_shared->bpf_abnormal_total, PPS_BPF_NCHILD_TYPES));
	pps_row_int8(&row, bpf, (int64) pg_atomic_read_u64(&pps_shared->bpf_reaps_total));
	pps_row_int4(&row, bpf && s.zombies >= 0, s.zombies);
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->samples_written));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->worker_starts));
	pps_row_put(&row, false,
				TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&pps_shared->stats_reset)));
	/* cgroup CPU: the cgroup's own cumulative counters, not reset by us */
	cg = have && HAS(&s, PPS_SRC_CGROUP_CPU);
	pps_row_float(&row, cg, s.cgroup_cpu_limit_cores);
	pps_row_float(&row, cg, s.cgroup_throttled_periods_pct);
	pps_row_float(&row, cg, s.cgroup_throttled_seconds_per_s);
	pps_row_int8(&row, cg, s.cgroup_throttled_periods_total);
	pps_row_float(&row, cg && s.cgroup_throttled_ns_total >= 0, s.cgroup_throttled_ns_total / 1e9);
	pps_row_check(&row);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, row.values, row.nulls)));
}

static void
pps_history_row(Tuplestorestate *store, TupleDesc tupdesc, const PpsSample *s,
				const PpsLimitsReading *limits)
{
	PpsRow		row;
	bool		pm = HAS(s, PPS_SRC_POSTMASTER);
	bool		acc = HAS(s, PPS_SRC_ACCEPT);
	bool		ch = HAS(s, PPS_SRC_CHILDREN);
	bool		bgw = HAS(s, PPS_SRC_BGWORKERS);
	bool		par = HAS(s, PPS_SRC_PARALLEL);
	bool		snap = HAS(s, PPS_SRC_SNAPSHOT);
	bool		lim = HAS(s, PPS_SRC_LIMITS);
	bool		bpf = HAS(s, PPS_SRC_EBPF);
	bool		rep = HAS(s, PPS_SRC_REPLAY);
	bool		cg = HAS(s, PPS_SRC_CGROUP_CPU);

	pps_row_start(&row, tupdesc);
	pps_row_put(&row, false, TimestampTzGetDatum(s->time));
	pps_row_float(&row, s->has_rates, s->interval_seconds);
	pps_row_float(&row, pm, s->pm_cpu_pct);
	pps_row_float(&row, pm, s->pm_cpu_user_pct);
	pps_row_float(&row, pm, s->pm_cpu_system_pct);
	pps_row_float(&row, pm, s->pm_cpu_wait_pct);
	pps_row_float(&row, pm, s->pm_voluntary_ctxsw_per_s);
	pps_row_float(&row, pm, s->pm_involuntary_ctxsw_per_s);
	pps_row_int8(&row, pm, s->pm_rss_bytes);
	pps_row_int8(&row, pm, s->pm_pagetable_bytes);
	pps_row_int4(&row, pm, s->pm_children);
	pps_row_int4(&row, acc, s->accept_queue_depth);
	pps_row_int4(&row, acc, s->accept_queue_max);
	pps_row_float(&row, acc, s->listen_drops_per_s);
	pps_row_float(&row, true, s->connections_per_s);
	pps_row_float(&row, true, s->auth_failures_per_s);
	pps_row_float(&row, true, s->conn_setup_avg_seconds);
	pps_row_float(&row, true, s->conn_setup_p99_seconds);
	pps_row_int4(&row, ch, pps_children_of(s, B_BACKEND));
	pps_row_int4(&row, ch, pps_children_of(s, B_BG_WORKER));
	pps_row_int4(&row, ch, pps_children_of(s, B_AUTOVAC_WORKER));
	pps_row_int4(&row, ch, pps_children_of(s, B_WAL_SENDER));
	pps_row_int4(&row, ch, s->children_unregistered);
	pps_row_int4(&row, ch, s->autovacuum_workers_started);
	pps_row_int4(&row, bgw, s->bgw_slots_in_use);
	pps_row_int4(&row, bgw, s->bgw_not_started);
	pps_row_int4(&row, bgw, s->bgw_parallel_active);
	pps_row_float(&row, bgw, s->bgw_registrations_per_s);
	pps_row_float(&row, bgw, s->bgw_parallel_registered_per_s);
	pps_row_float(&row, bgw, s->bgw_parallel_terminated_per_s);
	pps_row_float(&row, par, s->parallel_planned_per_s);
	pps_row_float(&row, par, s->parallel_launched_per_s);
	pps_row_float(&row, snap, s->snapshot_ns);
	pps_row_float(&row, snap, s->snapshot_ns_max);
	pps_row_int4(&row, snap, s->snapshot_xcnt);
	pps_row_int4(&row, snap, s->snapshot_subxcnt);
	pps_row_put(&row, !snap, BoolGetDatum(s->snapshot_suboverflowed));
	pps_row_int4(&row, snap, s->snapshot_procs);
	pps_row_int8(&row, snap, s->snapshot_oldest_xid_age);
	pps_row_float(&row, bpf, s->forks_per_s);
	pps_row_float(&row, bpf, s->exits_per_s);
	pps_row_float(&row, bpf, s->abnormal_exits_per_s);
	pps_row_float(&row, bpf, s->reaps_per_s);
	pps_row_int4(&row, bpf && s->zombies >= 0, s->zombies);
	pps_row_float(&row, bpf, s->fork_avg_seconds);
	pps_row_float(&row, true, pps_sample_fork_cpu_seconds(s));
	pps_row_float(&row, bpf, s->reap_latency_avg_seconds);
	for (int i = 0; i < PPS_BPF_NCPU_STATES; i++)
		pps_row_float(&row, bpf, s->cpu_share_pct[i]);
	pps_row_float(&row, lim, s->limits_min_headroom_pct);
	pps_row_put(&row, !lim || s->limits_min_index < 0 || limits == NULL ||
				s->limits_min_index >= limits->nlimits,
				lim && limits && s->limits_min_index >= 0 && s->limits_min_index < limits->nlimits ?
				CStringGetTextDatum(limits->limits[s->limits_min_index].name) : (Datum) 0);
	pps_row_int4(&row, bpf, s->server_oncpu_samples);
	pps_row_float(&row, bpf, s->snapshot_cpu_share_pct);
	/* replay */
	pps_row_int8(&row, rep, s->replay_lag_bytes);
	pps_row_float(&row, rep, s->replay_lag_seconds);
	pps_row_float(&row, rep, s->replay_rate_bytes_per_s);
	pps_row_float(&row, rep, s->startup_cpu_pct);
	pps_row_float(&row, rep, s->replay_headroom);
	pps_row_float(&row, rep, s->wal_generated_bytes_per_s);
	pps_row_float(&row, true, s->sampler_cpu_us);
	/* cgroup CPU */
	pps_row_float(&row, cg, s->cgroup_cpu_limit_cores);
	pps_row_float(&row, cg, s->cgroup_throttled_periods_pct);
	pps_row_float(&row, cg, s->cgroup_throttled_seconds_per_s);
	/* the state the diagnosis' replay findings read, so they can be checked */
	{
		const char *state = rep ? pps_replay_state_name(s->replay_state) : NULL;

		pps_row_put(&row, state == NULL, state ? CStringGetTextDatum(state) : (Datum) 0);
	}
	pps_row_check(&row);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
}

/* The probe worker's latest limits (palloc'd) and their time, or NULL. */
static PpsLimitsReading *
pps_sql_limits_latest(TimestampTz *at)
{
	PpsLimitsReading *r = palloc(sizeof(PpsLimitsReading));
	double		cost;
	double		slow_cost;

	if (pps_shmem_limits_read(r, at, &cost, &slow_cost))
		return r;
	pfree(r);
	return NULL;
}

static Datum
pg_postmaster_stats_history_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	uint64		end;
	PpsLimitsReading *limits;
	TimestampTz at;

	tupdesc = pps_srf_start(fcinfo, &store);

	/* limit names for limits_min_name: the row order never changes */
	limits = pps_sql_limits_latest(&at);

	end = pg_atomic_read_u64(&pps_shared->samples_written);
	for (uint64 i = pps_shmem_ring_oldest(); i < end; i++)
	{
		PpsSample	s;

		/* a row overwritten while we read is gone from the window anyway */
		if (pps_shmem_ring_read(i, &s))
			pps_history_row(store, tupdesc, &s, limits);
	}
	return (Datum) 0;
}

static void
pps_latency_rows(Tuplestorestate *store, TupleDesc tupdesc, const char *metric,
				 const PpsHistogramCopy *h, double unit_seconds)
{
	uint64		cumulative = 0;

	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		cumulative += h->bucket[k];
		values[0] = CStringGetTextDatum(metric);
		values[1] = Float8GetDatum(pps_hist_upper_seconds(k, unit_seconds));
		values[2] = Int64GetDatum((int64) cumulative);
		/* sum_us holds the histogram's own unit (ns for the snapshot one) */
		values[3] = Float8GetDatum((double) h->sum_us * unit_seconds);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
}

static Datum
pg_postmaster_stats_latency_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	PpsHistogramCopy h;

	tupdesc = pps_srf_start(fcinfo, &store);

	pps_hist_copy(&pps_shared->conn_setup, &h);
	pps_latency_rows(store, tupdesc, "connection_setup", &h, PPS_HIST_UNIT_US);
	pps_hist_copy(&pps_shared->snapshot_hist, &h);
	pps_latency_rows(store, tupdesc, "snapshot", &h, PPS_HIST_UNIT_NS);
	pps_hist_copy(&pps_shared->fork_hist, &h);
	pps_latency_rows(store, tupdesc, "fork", &h, PPS_HIST_UNIT_US);
	pps_hist_copy(&pps_shared->reap_hist, &h);
	pps_latency_rows(store, tupdesc, "reap_latency", &h, PPS_HIST_UNIT_US);
	pps_hist_copy(&pps_shared->lifetime_hist, &h);
	pps_latency_rows(store, tupdesc, "child_lifetime", &h, PPS_HIST_UNIT_US);
	return (Datum) 0;
}

/* Names of the eBPF child classes, as rows of the children view. */
static const char *const pps_bpf_class_names[PPS_BPF_NCHILD_TYPES] = {
	[PPS_BPF_CHILD_CLIENT_BACKEND] = "client backend",
	[PPS_BPF_CHILD_PARALLEL_WORKER] = "parallel worker",
	[PPS_BPF_CHILD_AUTOVACUUM_WORKER] = "autovacuum worker",
	[PPS_BPF_CHILD_BACKGROUND_WORKER] = "background worker",
	[PPS_BPF_CHILD_WALSENDER] = "walsender",
	[PPS_BPF_CHILD_AUXILIARY] = "auxiliary",
	[PPS_BPF_CHILD_OTHER] = "other",
};

static int
pps_bpf_class_of(const char *name)
{
	for (int i = 0; i < PPS_BPF_NCHILD_TYPES; i++)
		if (strcmp(pps_bpf_class_names[i], name) == 0)
			return i;
	return -1;
}

static void
pps_children_row(Tuplestorestate *store, TupleDesc tupdesc, const char *name,
				 bool has_live, int32 live, bool bpf)
{
	PpsRow		row;
	int			cls = pps_bpf_class_of(name);
	bool		counted = bpf && cls >= 0;

	pps_row_start(&row, tupdesc);
	pps_row_put(&row, false, CStringGetTextDatum(name));
	pps_row_int4(&row, has_live, live);
	pps_row_int8(&row, counted, counted ? (int64) pg_atomic_read_u64(&pps_shared->bpf_exits_total[cls]) : 0);
	pps_row_int8(&row, counted, counted ? (int64) pg_atomic_read_u64(&pps_shared->bpf_abnormal_total[cls]) : 0);
	pps_row_int8(&row, counted, counted ? (int64) pg_atomic_read_u64(&pps_shared->bpf_signaled_total[cls]) : 0);
	pps_row_int8(&row, counted, counted ? (int64) pg_atomic_read_u64(&pps_shared->bpf_exits_unseen_total[cls]) : 0);
	pps_row_check(&row);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
}

/*
 * Live children at call time, not from the last sample: this is what psql
 * users want.  With eBPF, exits by class since the last reset: classes are
 * decided when a child exits (from its process title), so "parallel
 * worker", "auxiliary" and "other" have rows of their own.
 */
static Datum
pg_postmaster_stats_children_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	PpsChildrenReading r;
	char		err[PPS_DETAIL_LEN];
	int32		all;
	PpsSample	s;
	bool		bpf;

	tupdesc = pps_srf_start(fcinfo, &store);

	if (!pps_children_read(&r, err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not read live children: %s", err)));
	all = pps_pm_children(PostmasterPid);
	bpf = pps_shmem_ring_latest(&s) && HAS(&s, PPS_SRC_EBPF);

	for (int t = 1; t < PPS_BACKEND_NUM_TYPES; t++)
		pps_children_row(store, tupdesc, pps_children_type_name(t), true, r.by_type[t], bpf);

	/* children not (yet) in the status array: authenticating, syslogger, ... */
	pps_children_row(store, tupdesc, "unregistered", all >= 0, Max(all - r.registered, 0), false);

	for (int i = 0; i < PPS_BPF_NCHILD_TYPES; i++)
	{
		bool		is_backend_type = false;

		for (int t = 1; t < PPS_BACKEND_NUM_TYPES; t++)
			is_backend_type |= strcmp(pps_children_type_name(t), pps_bpf_class_names[i]) == 0;
		if (!is_backend_type)
			pps_children_row(store, tupdesc, pps_bpf_class_names[i], false, 0, bpf);
	}
	return (Datum) 0;
}

static Datum
pg_postmaster_stats_sources_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	PpsSourceState states[PPS_NUM_SOURCES];
	uint32		worker_pid;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	char	   *detail;
	char	   *note;

	tupdesc = pps_srf_start(fcinfo, &store);

	worker_pid = pg_atomic_read_u32(&pps_shared->worker_pid);
	values[0] = CStringGetTextDatum("sampler_worker");
	values[1] = BoolGetDatum(worker_pid != 0);
	if (worker_pid != 0)
		detail = psprintf("pid %u, one sample every %d ms, %d samples kept",
						  worker_pid, pps_sample_interval_ms, pps_history_size);
	else
		detail = "not running: the postmaster restarts it within 5 s; "
			"if it stays down, look for \"" PPS_WORKER_TYPE "\" in the server log";
	/* counters that started over after a crash restart say so */
	if ((note = pps_shmem_discard_note()) != NULL)
		detail = psprintf("%s; %s", detail, note);
	values[2] = CStringGetTextDatum(detail);
	tuplestore_putvalues(store, tupdesc, values, nulls);

	pps_shmem_sources_read(states);
	for (int i = 0; i < PPS_NUM_SOURCES; i++)
	{
		values[0] = CStringGetTextDatum(pps_shmem_source_name((PpsSource) i));
		values[1] = BoolGetDatum(states[i].active && worker_pid != 0);
		values[2] = CStringGetTextDatum(states[i].detail);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

static Datum
pg_postmaster_stats_reset_body(PG_FUNCTION_ARGS)
{
	pps_shmem_require_loaded();
	pps_shmem_counters_reset();
	pps_attrib_reset();
	PG_RETURN_VOID();
}

/* One row: cumulative counters (live) and slot usage (latest sample). */
static Datum
pg_postmaster_stats_bgworkers_body(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PpsSample	s;
	bool		have;
	bool		bgw;
	bool		bpf;
	PpsRow		row;
	uint64		planned;
	uint64		launched;

	tupdesc = pps_one_row_start(fcinfo, &s, &have);
	bgw = have && HAS(&s, PPS_SRC_BGWORKERS);
	bpf = have && HAS(&s, PPS_SRC_EBPF);
	planned = pg_atomic_read_u64(&pps_shared->parallel_planned_total);
	launched = pg_atomic_read_u64(&pps_shared->parallel_launched_total);

	pps_row_start(&row, tupdesc);
	pps_row_put(&row, !have, TimestampTzGetDatum(s.time));
	pps_row_int4(&row, bgw, s.bgw_slots_total);
	pps_row_int4(&row, bgw, s.bgw_slots_in_use);
	pps_row_int4(&row, bgw, s.bgw_not_started);
	pps_row_int4(&row, bgw, s.bgw_parallel_active);
	pps_row_int4(&row, have && HAS(&s, PPS_SRC_CHILDREN), s.children_by_type[B_AUTOVAC_WORKER]);
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->bgw_registrations_total));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->bgw_parallel_registered_total));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->bgw_parallel_terminated_total));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->parallel_queries_total));
	pps_row_int8(&row, true, (int64) planned);
	pps_row_int8(&row, true, (int64) launched);
	pps_row_int8(&row, true, (int64) (planned >= launched ? planned - launched : 0));
	pps_row_int8(&row, true, (int64) pg_atomic_read_u64(&pps_shared->autovacuum_started_total));
	pps_row_int8(&row, bpf,
				 (int64) (pg_atomic_read_u64(&pps_shared->bpf_abnormal_total[PPS_BPF_CHILD_BACKGROUND_WORKER]) +
						  pg_atomic_read_u64(&pps_shared->bpf_abnormal_total[PPS_BPF_CHILD_PARALLEL_WORKER])));
	pps_row_check(&row);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, row.values, row.nulls)));
}

/* The probe worker's latest result, straight from shared memory. */
static Datum
pg_postmaster_stats_snapshot_probe_body(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PpsSnapshotProbe p;
	bool		have;
	PpsRow		row;

	pps_shmem_require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	have = pps_shmem_probe_read(&p);
	pps_row_start(&row, tupdesc);
	pps_row_put(&row, !have, TimestampTzGetDatum(p.time));
	pps_row_int4(&row, have, p.calls);
	pps_row_float(&row, have, p.ns_median);
	pps_row_float(&row, have, p.ns_max);
	pps_row_int4(&row, have, p.xcnt);
	pps_row_int4(&row, have, p.subxcnt);
	pps_row_put(&row, !have, BoolGetDatum(p.suboverflowed));
	pps_row_int4(&row, have, p.procs_in_use);
	pps_row_int8(&row, have, p.oldest_xid_age);
	pps_row_put(&row, !have, BoolGetDatum(p.in_recovery));
	pps_row_check(&row);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, row.values, row.nulls)));
}

/* Every limit with its headroom, from the probe worker's latest reading. */
static Datum
pg_postmaster_stats_limits_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	PpsLimitsReading *r;
	TimestampTz at;

	tupdesc = pps_srf_start(fcinfo, &store);
	r = pps_sql_limits_latest(&at);
	if (r == NULL)
		return (Datum) 0;

	for (int i = 0; i < r->nlimits; i++)
	{
		const PpsLimit *l = &r->limits[i];
		PpsRow		row;

		pps_row_start(&row, tupdesc);
		pps_row_put(&row, false, CStringGetTextDatum(l->name));
		pps_row_float(&row, true, l->current);
		pps_row_float(&row, true, l->maximum);
		pps_row_float(&row, l->ok, pps_limit_headroom_pct(l));
		pps_row_put(&row, false, CStringGetTextDatum(l->unit));
		pps_row_put(&row, false, CStringGetTextDatum(l->source));
		pps_row_put(&row, false, CStringGetTextDatum(l->hint));
		pps_row_put(&row, false, TimestampTzGetDatum(at));
		pps_row_check(&row);
		tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	}
	return (Datum) 0;
}
