/*-------------------------------------------------------------------------
 *
 * pps_sql_attrib.c
 *	  SQL functions behind pg_postmaster_stats_clients and
 *	  pg_postmaster_stats_parallel_queries, their dealloc counters and
 *	  pg_postmaster_stats_reset_clients().
 *
 * What a client sent (role name, application_name) and where from are
 * shown only to members of pg_read_all_stats (superusers included), as
 * pg_stat_activity does; other pg_monitor members get NULL there.  Rows
 * are copied out of shared memory first (pps_table_copy), tuples built
 * after the locks are released.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#include "pps_compat.h"
#include "pps_shmem.h"
#include "pps_shmem_attrib.h"
#include "pps_sql.h"

PG_FUNCTION_INFO_V1(pg_postmaster_stats_clients);
PG_FUNCTION_INFO_V1(pg_postmaster_stats_parallel_queries);
PG_FUNCTION_INFO_V1(pg_postmaster_stats_attribution);
PG_FUNCTION_INFO_V1(pg_postmaster_stats_reset_clients);

/*
 * What a client sent before authentication may be any bytes: a string
 * invalid in the database encoding is shown with '?' for each non-ASCII
 * byte, so that the views (and the exporter reading them) never fail on it.
 */
const char *
pps_valid_str(const char *s)
{
	char	   *copy;

	if (s == NULL || pg_verifymbstr(s, strlen(s), true))
		return s;
	copy = pstrdup(s);
	for (char *c = copy; *c; c++)
		if ((unsigned char) *c >= 0x80)
			*c = '?';
	return copy;
}

static void
pps_row_name(PpsRow *row, bool visible, const char *s)
{
	s = pps_valid_str(s);
	pps_row_put(row, !visible || s == NULL,
				visible && s != NULL ? DirectFunctionCall1(namein, CStringGetDatum(s)) : (Datum) 0);
}

static Datum
pps_client_inet(const PpsClientKey *k)
{
	inet	   *ip = palloc0(sizeof(inet));

	ip_family(ip) = k->addr_family == 4 ? PGSQL_AF_INET : PGSQL_AF_INET6;
	ip_bits(ip) = k->addr_family == 4 ? 32 : 128;
	memcpy(ip_addr(ip), k->addr, ip_addrsize(ip));
	SET_INET_VARSIZE(ip);
	return InetPGetDatum(ip);
}

static double
pps_us_seconds(uint64 us)
{
	return (double) us / 1e6;
}

Datum
pg_postmaster_stats_clients(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc = pps_srf_start(fcinfo, &store);
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			n;
	char	   *rows = (char *) pps_table_copy(&pps_clients_table, &n);
	Size		rsize = pps_table_row_size(&pps_clients_table);

	for (int i = 0; i < n; i++)
	{
		PpsTableRow *r = (PpsTableRow *) (rows + rsize * i);
		PpsClientKey *k = (PpsClientKey *) r->key;
		const uint64 *c = r->counters;
		PpsRow		row;

		pps_row_start(&row, tupdesc);
		pps_row_name(&row, true, k->database);
		pps_row_name(&row, all, k->role);
		pps_row_put(&row, !all, all ? CStringGetTextDatum(pps_valid_str(k->application_name)) : (Datum) 0);
		pps_row_put(&row, !all || k->addr_family == 0,
					all && k->addr_family != 0 ? pps_client_inet(k) : (Datum) 0);
		pps_row_int8(&row, true, (int64) c[PPS_CLIENT_CONNECTIONS]);
		pps_row_int8(&row, true, (int64) c[PPS_CLIENT_AUTH_FAILURES]);
		pps_row_int8(&row, true, (int64) c[PPS_CLIENT_SESSIONS_ENDED]);
		pps_row_float(&row, true, pps_us_seconds(c[PPS_CLIENT_SESSION_US]));
		pps_row_int8(&row, true, (int64) c[PPS_CLIENT_SHORT_SESSIONS]);
		pps_row_float(&row, true, pps_us_seconds(c[PPS_CLIENT_SETUP_US]));
		pps_row_float(&row, true, r->rate_per_s);
		pps_row_put(&row, false, TimestampTzGetDatum(r->first_seen));
		pps_row_put(&row, false, TimestampTzGetDatum(r->last_seen));
		pps_row_check(&row);
		tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	}
	return (Datum) 0;
}

Datum
pg_postmaster_stats_parallel_queries(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc = pps_srf_start(fcinfo, &store);
	int			n;
	char	   *rows = (char *) pps_table_copy(&pps_pqueries_table, &n);
	Size		rsize = pps_table_row_size(&pps_pqueries_table);

	for (int i = 0; i < n; i++)
	{
		PpsTableRow *r = (PpsTableRow *) (rows + rsize * i);
		PpsParallelKey *k = (PpsParallelKey *) r->key;
		const uint64 *c = r->counters;
		uint64		planned = c[PPS_PQ_PLANNED];
		uint64		launched = c[PPS_PQ_LAUNCHED];
		PpsRow		row;

		pps_row_start(&row, tupdesc);
		pps_row_put(&row, k->queryid == 0, Int64GetDatum(k->queryid));
		pps_row_name(&row, true, get_database_name(k->dbid));
		pps_row_name(&row, true, GetUserNameFromId(k->userid, true));
		pps_row_int8(&row, true, (int64) c[PPS_PQ_EXECUTIONS]);
		pps_row_int8(&row, true, (int64) planned);
		pps_row_int8(&row, true, (int64) launched);
		pps_row_int8(&row, true, (int64) (planned >= launched ? planned - launched : 0));
		pps_row_put(&row, false, TimestampTzGetDatum(r->last_seen));
		pps_row_check(&row);
		tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
	}
	return (Datum) 0;
}

/* One row: entries evicted from each table (NULL: the table is off). */
Datum
pg_postmaster_stats_attribution(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	PpsRow		row;

	pps_shmem_require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	pps_row_start(&row, tupdesc);
	pps_row_int8(&row, pps_clients_table.sh != NULL,
				 (int64) pps_table_dealloc_total(&pps_clients_table));
	pps_row_int8(&row, pps_pqueries_table.sh != NULL,
				 (int64) pps_table_dealloc_total(&pps_pqueries_table));
	pps_row_check(&row);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, row.values, row.nulls)));
}

Datum
pg_postmaster_stats_reset_clients(PG_FUNCTION_ARGS)
{
	pps_shmem_require_loaded();
	pps_table_reset(&pps_clients_table);
	PG_RETURN_VOID();
}
