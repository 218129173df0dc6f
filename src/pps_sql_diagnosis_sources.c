/*-------------------------------------------------------------------------
 *
 * pps_sql_diagnosis_sources.c
 *	  Who causes the churn the diagnosis finds: the clients with the highest
 *	  connection rate (pg_postmaster_stats_clients) and the queries that
 *	  launched the most parallel workers (pg_postmaster_stats_parallel_queries),
 *	  named in connection_churn's and parallel_worker_churn's summary and
 *	  evidence (under the view's name, as rows keyed by its columns).
 *
 * Names follow the views' privacy rule: role and application name only for
 * members of pg_read_all_stats; the client address never (a summary is
 * exported as text, and the address adds nothing to "who").  Client-sent
 * names are made valid in the database encoding first, so a finding can
 * always be built.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid_d.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/json.h"

#include "pps_compat.h"
#include "pps_shmem_attrib.h"
#include "pps_sql.h"
#include "pps_sql_diagnosis_internal.h"

typedef struct PpsRanked
{
	const PpsTableRow *row;
	double		score;
} PpsRanked;

static int
pps_ranked_cmp(const void *a, const void *b)
{
	double		x = ((const PpsRanked *) a)->score;
	double		y = ((const PpsRanked *) b)->score;

	return x > y ? -1 : x < y ? 1 : 0;
}

/* The rows of a table copy, highest score first; *n: how many. */
static PpsRanked *
pps_rank(PpsTable *t, bool by_rate, int counter, int *n)
{
	char	   *rows = (char *) pps_table_copy(t, n);
	Size		rsize = pps_table_row_size(t);
	PpsRanked  *r = palloc(sizeof(PpsRanked) * Max(*n, 1));

	for (int i = 0; i < *n; i++)
	{
		r[i].row = (const PpsTableRow *) (rows + rsize * i);
		r[i].score = by_rate ? r[i].row->rate_per_s : (double) r[i].row->counters[counter];
	}
	qsort(r, *n, sizeof(PpsRanked), pps_ranked_cmp);
	return r;
}

static void
pps_json_str(StringInfo out, const char *key, const char *v)
{
	appendStringInfo(out, "\"%s\": ", key);
	if (v)
		escape_json(out, pps_valid_str(v));
	else
		appendStringInfoString(out, "null");
}

void
pps_diag_top_clients(StringInfo summary, StringInfo evidence, int n)
{
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			nrows;
	PpsRanked  *r = pps_rank(&pps_clients_table, true, 0, &nrows);
	int			shown = 0;

	if (evidence->len > 0)
		appendStringInfoString(evidence, ", ");
	appendStringInfoString(evidence, "\"pg_postmaster_stats_clients\": [");
	for (int i = 0; i < nrows && shown < n; i++)
	{
		const PpsClientKey *k = (const PpsClientKey *) r[i].row->key;

		/* a trickle beside the churn is not its source */
		if (r[i].score < 0.5)
			break;
		appendStringInfoString(evidence, shown ? ", {" : "{");
		pps_json_str(evidence, "database", k->database);
		appendStringInfoString(evidence, ", ");
		pps_json_str(evidence, "role", all ? k->role : NULL);
		appendStringInfoString(evidence, ", ");
		pps_json_str(evidence, "application_name", all ? k->application_name : NULL);
		appendStringInfo(evidence, ", \"connections_per_s\": %.6g}", r[i].score);

		appendStringInfoString(summary, shown ? ", " : "; most from ");
		if (all)
			appendStringInfo(summary, "%s@%s (%s) %.0f/s", pps_valid_str(k->role),
							 pps_valid_str(k->database),
							 k->application_name[0] ? pps_valid_str(k->application_name) : "no application_name",
							 r[i].score);
		else
			appendStringInfo(summary, "database %s %.0f/s", pps_valid_str(k->database), r[i].score);
		shown++;
	}
	appendStringInfoChar(evidence, ']');
	if (shown > 0)
		appendStringInfoString(summary, " (pg_postmaster_stats_clients)");
}

void
pps_diag_top_parallel(StringInfo summary, StringInfo evidence, int n)
{
	int			nrows;
	PpsRanked  *r = pps_rank(&pps_pqueries_table, false, PPS_PQ_LAUNCHED, &nrows);
	int			shown = 0;

	if (evidence->len > 0)
		appendStringInfoString(evidence, ", ");
	appendStringInfoString(evidence, "\"pg_postmaster_stats_parallel_queries\": [");
	for (int i = 0; i < nrows && shown < n; i++)
	{
		const PpsParallelKey *k = (const PpsParallelKey *) r[i].row->key;
		const uint64 *c = r[i].row->counters;

		if (c[PPS_PQ_PLANNED] == 0)
			continue;
		appendStringInfo(evidence, "%s{\"queryid\": " INT64_FORMAT ", ", shown ? ", " : "", k->queryid);
		pps_json_str(evidence, "database", get_database_name(k->dbid));
		appendStringInfo(evidence,
						 ", \"executions_total\": " UINT64_FORMAT ", \"workers_planned_total\": " UINT64_FORMAT ", \"workers_launched_total\": " UINT64_FORMAT "}",
						 c[PPS_PQ_EXECUTIONS], c[PPS_PQ_PLANNED], c[PPS_PQ_LAUNCHED]);
		appendStringInfo(summary, "%squeryid " INT64_FORMAT " " UINT64_FORMAT " workers in " UINT64_FORMAT " executions",
						 shown ? ", " : "; most from ", k->queryid,
						 c[PPS_PQ_LAUNCHED], c[PPS_PQ_EXECUTIONS]);
		shown++;
	}
	appendStringInfoChar(evidence, ']');
	if (shown > 0)
		appendStringInfoString(summary, " since the last reset (pg_postmaster_stats_parallel_queries)");
}
