/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis.c
 *	  pg_postmaster_stats_diagnose(window): which findings of
 *	  pps_sql_diagnosis_rules.c hold over the window of the sample history,
 *	  since when, and what to change.
 *
 * Computed at query time from a private copy of the ring, so a diagnosis
 * adds nothing to the sampler's tick and holds no lock while it builds
 * its rows.  A finding is reported when it held in at least min_run
 * successive samples of the window; "samples" counts every sample of the
 * window where it held, and "since" is the first sample of its latest run,
 * followed back before the window if the run started earlier.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_sql.h"
#include "pps_sql_diagnosis.h"

PPS_SQL_FUNCTION(pg_postmaster_stats_diagnose)
PPS_SQL_FUNCTION(pg_postmaster_stats_diagnosis_rules)

/* the longest window: the history never covers more (a week at 1 sample/s) */
#define PPS_DIAG_MAX_WINDOW_S (366.0 * 86400)

typedef struct PpsDiagResult
{
	const PpsFinding *f;
	int			order;			/* in pps_findings[] */
	int			samples;		/* held in, within the window */
	int			since;			/* index of the latest run's first sample */
	const PpsSample **held;		/* the samples of the window it held in */
} PpsDiagResult;

/* Copies the ring, oldest first; rows overwritten while we read are skipped. */
static PpsSample *
pps_diag_copy_history(int *n)
{
	uint64		end = pg_atomic_read_u64(&pps_shared->samples_written);
	uint64		start = pps_shmem_ring_oldest();
	PpsSample  *out;
	int			k = 0;

	out = palloc(sizeof(PpsSample) * Max(end - start, 1));
	for (uint64 i = start; i < end; i++)
		if (pps_shmem_ring_read(i, &out[k]))
			k++;
	*n = k;
	return out;
}

/* The lowest snapshot cost of the whole history, and its proc count. */
static void
pps_diag_baselines(const PpsSample *hist, int n, PpsDiagContext *ctx)
{
	ctx->snapshot_base_ns = get_float8_nan();
	ctx->snapshot_base_procs = 0;
	for (int i = 0; i < n; i++)
	{
		const PpsSample *s = &hist[i];

		if (!(s->valid & PPS_SRC_BIT(PPS_SRC_SNAPSHOT)) || isnan(s->snapshot_ns) ||
			s->snapshot_ns <= 0)
			continue;
		if (isnan(ctx->snapshot_base_ns) || s->snapshot_ns < ctx->snapshot_base_ns)
		{
			ctx->snapshot_base_ns = s->snapshot_ns;
			ctx->snapshot_base_procs = s->snapshot_procs;
		}
	}
}

static bool
pps_diag_holds(const PpsFinding *f, const PpsSample *hist, int i, PpsDiagContext *ctx)
{
	ctx->s = &hist[i];
	ctx->prev = i > 0 ? &hist[i - 1] : NULL;
	return f->holds(ctx);
}

static int
pps_diag_cmp(const void *a, const void *b)
{
	const PpsDiagResult *x = a;
	const PpsDiagResult *y = b;

	if (x->f->severity != y->f->severity)
		return x->f->severity > y->f->severity ? -1 : 1;
	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	return x->order - y->order;
}

static double
pps_interval_seconds(const Interval *iv)
{
	return iv->time / (double) USECS_PER_SEC +
		(iv->day + (double) iv->month * DAYS_PER_MONTH) * SECS_PER_DAY;
}

static void
pps_diag_row(Tuplestorestate *store, TupleDesc tupdesc, const PpsDiagResult *r,
			 const PpsSample *hist, double window_s, const PpsDiagContext *ctx,
			 const PpsLimitsReading *limits, const PpsSourceState *sources)
{
	PpsDiagHeld h;
	PpsDiagText text;
	PpsRow		row;
	char	   *json;

	h.samples = r->held;
	h.n = r->samples;
	h.limits = limits;
	h.sources = sources;
	h.window_seconds = window_s;
	h.ctx = ctx;
	initStringInfo(&text.summary);
	initStringInfo(&text.evidence);
	initStringInfo(&text.remedy);
	r->f->describe(&h, &text);
	json = psprintf("{%s}", text.evidence.data);

	pps_row_start(&row, tupdesc);
	pps_row_put(&row, false, CStringGetTextDatum(r->f->name));
	pps_row_put(&row, false, CStringGetTextDatum(pps_severity_name(r->f->severity)));
	pps_row_put(&row, false, TimestampTzGetDatum(hist[r->since].time));
	pps_row_put(&row, false, Int32GetDatum(r->samples));
	pps_row_put(&row, false, CStringGetTextDatum(text.summary.data));
	pps_row_put(&row, false, DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	pps_row_put(&row, false, CStringGetTextDatum(text.remedy.data));
	/* array_in caches in its flinfo: call it with one */
	pps_row_put(&row, false, OidInputFunctionCall(F_ARRAY_IN, unconstify(char *, r->f->source_views),
												  TEXTOID, -1));
	pps_row_check(&row);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
}

static Datum
pg_postmaster_stats_diagnose_body(PG_FUNCTION_ARGS)
{
	Interval   *window;
	double		window_s;
	TimestampTz to;
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	PpsSample  *hist;
	int			n;
	int			first;
	TimestampTz from;
	PpsDiagContext ctx;
	PpsDiagResult *results;
	int			nresults = 0;
	const PpsSample **held;
	PpsLimitsReading *limits = palloc(sizeof(PpsLimitsReading));
	PpsSourceState sources[PPS_NUM_SOURCES];
	TimestampTz limits_at;
	double		cost,
				slow_cost;

	/* not STRICT, for the default end: a NULL window is no diagnosis */
	if (PG_ARGISNULL(0))
	{
		pps_srf_start(fcinfo, &store);
		return (Datum) 0;
	}
	window = PG_GETARG_INTERVAL_P(0);
	window_s = pps_interval_seconds(window);
	to = PG_ARGISNULL(1) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(1);

	if (!(window_s > 0) || window_s > PPS_DIAG_MAX_WINDOW_S)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("diagnosis window must be between 1 second and 366 days"),
				 errhint("The history keeps pg_postmaster_stats.history_size samples; pg_postmaster_stats_diagnosis uses the last minute.")));

	tupdesc = pps_srf_start(fcinfo, &store);

	hist = pps_diag_copy_history(&n);
	if (!pps_shmem_limits_read(limits, &limits_at, &cost, &slow_cost))
		limits = NULL;
	pps_shmem_sources_read(sources);
	pps_diag_baselines(hist, n, &ctx);

	/* the window's samples: [first, n) once the ones after its end are cut */
	from = to - (TimestampTz) (window_s * USECS_PER_SEC);
	while (n > 0 && hist[n - 1].time > to)
		n--;
	for (first = 0; first < n && hist[first].time < from; first++)
		;

	/*
	 * The samples each finding held in, for its description: gathered in a
	 * scratch array of the window's size, kept only for reported findings.
	 */
	results = palloc0(sizeof(PpsDiagResult) * pps_nfindings);
	held = palloc(sizeof(PpsSample *) * Max(n - first, 1));
	for (int fi = 0; fi < pps_nfindings; fi++)
	{
		const PpsFinding *f = &pps_findings[fi];
		PpsDiagResult r = {f, fi, 0, -1, NULL};
		int			run = 0,
					longest = 0;

		if (f->holds == NULL)
			continue;
		for (int i = first; i < n; i++)
		{
			if (!pps_diag_holds(f, hist, i, &ctx))
			{
				run = 0;
				continue;
			}
			if (run == 0)
				r.since = i;
			run++;
			longest = Max(longest, run);
			held[r.samples++] = &hist[i];
		}
		if (longest < f->min_run)
			continue;
		r.held = palloc(sizeof(PpsSample *) * r.samples);
		memcpy(r.held, held, sizeof(PpsSample *) * r.samples);
		/* a run that began before the window: since when, really */
		if (r.since == first)
			while (r.since > 0 && pps_diag_holds(f, hist, r.since - 1, &ctx))
				r.since--;
		results[nresults++] = r;
	}

	qsort(results, nresults, sizeof(PpsDiagResult), pps_diag_cmp);
	for (int i = 0; i < nresults; i++)
		pps_diag_row(store, tupdesc, &results[i], hist, window_s, &ctx,
					 limits, sources);
	return (Datum) 0;
}

/* The findings and their thresholds, as the diagnosis uses them now. */
static Datum
pg_postmaster_stats_diagnosis_rules_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;

	tupdesc = pps_srf_start(fcinfo, &store);
	for (int i = 0; i < pps_nthresholds; i++)
	{
		const PpsThreshold *t = &pps_thresholds[i];
		const PpsFinding *f = NULL;
		PpsRow		row;

		for (int k = 0; k < pps_nfindings; k++)
			if (strcmp(pps_findings[k].name, t->finding) == 0)
				f = &pps_findings[k];
		if (f == NULL)
			elog(ERROR, "pg_postmaster_stats: threshold of unknown finding \"%s\"", t->finding);

		pps_row_start(&row, tupdesc);
		pps_row_put(&row, false, CStringGetTextDatum(f->name));
		pps_row_put(&row, false, CStringGetTextDatum(pps_severity_name(f->severity)));
		pps_row_put(&row, false, Int32GetDatum(f->min_run));
		pps_row_put(&row, t->name == NULL, t->name ? CStringGetTextDatum(t->name) : (Datum) 0);
		pps_row_float(&row, t->name != NULL, pps_threshold_value(t));
		pps_row_put(&row, t->unit == NULL, t->unit ? CStringGetTextDatum(t->unit) : (Datum) 0);
		pps_row_put(&row, t->setting == NULL, t->setting ? CStringGetTextDatum(t->setting) : (Datum) 0);
		pps_row_put(&row, false, CStringGetTextDatum(t->rule));
		pps_row_check(&row);
		tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	}
	return (Datum) 0;
}
