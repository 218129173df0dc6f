/*-------------------------------------------------------------------------
 *
 * pps_sql_overhead.c
 *	  pg_postmaster_stats_overhead(): what the extension itself costs.
 *
 * Cumulative totals from the cost counters (pps_shmem_overhead.c) plus
 * each row's share of one core over the sampler's last interval.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "pps_shmem_overhead.h"
#include "pps_sql.h"

PPS_SQL_FUNCTION(pg_postmaster_stats_overhead)

static Datum
pg_postmaster_stats_overhead_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc = pps_srf_start(fcinfo, &store);
	PpsOvhRow  *rows = palloc(sizeof(PpsOvhRow) * PPS_OVH_NROWS);
	PpsOvhWindow w;
	bool		have_window = pps_ovh_window_read(&w);

	pps_ovh_rows(rows, have_window ? &w : NULL);
	for (int i = 0; i < PPS_OVH_NROWS; i++)
	{
		PpsOvhRow  *r = &rows[i];
		PpsRow		row;

		pps_row_start(&row, tupdesc);
		pps_row_put(&row, false, CStringGetTextDatum(r->component));
		pps_row_int8(&row, true, (int64) Min(r->calls, (uint64) PG_INT64_MAX));
		pps_row_float(&row, true, r->cpu_ns / 1e9);
		pps_row_float(&row, r->calls > 0, r->cpu_ns / (double) Max(r->calls, 1));
		pps_row_float(&row, have_window && !isnan(w.pct[i]), have_window ? w.pct[i] : 0);
		pps_row_put(&row, false, CStringGetTextDatum(r->detail));
		pps_row_check(&row);
		tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	}
	return (Datum) 0;
}
