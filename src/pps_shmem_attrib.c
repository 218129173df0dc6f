/*-------------------------------------------------------------------------
 *
 * pps_shmem_attrib.c
 *	  The attribution tables (pps_shmem_attrib.h): their geometry from
 *	  pg_postmaster_stats.max_clients and .max_parallel_queries (0: off,
 *	  no memory, the hooks skip them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pps_guc.h"
#include "pps_shmem_attrib.h"

PpsTable	pps_clients_table;
PpsTable	pps_pqueries_table;

static void
pps_attrib_define(void)
{
	pps_table_define(&pps_clients_table, "pg_postmaster_stats clients",
					 pps_max_clients, sizeof(PpsClientKey), PPS_CLIENT_NCOUNTERS);
	pps_table_define(&pps_pqueries_table, "pg_postmaster_stats parallel queries",
					 pps_max_parallel_queries, sizeof(PpsParallelKey), PPS_PQ_NCOUNTERS);
}

void
pps_attrib_request(void)
{
	pps_attrib_define();
	pps_table_request(&pps_clients_table);
	pps_table_request(&pps_pqueries_table);
}

/* In the postmaster, under AddinShmemInitLock; children inherit it. */
void
pps_attrib_startup(void)
{
	pps_attrib_define();
	pps_table_startup(&pps_clients_table);
	pps_table_startup(&pps_pqueries_table);
}

void
pps_attrib_reset(void)
{
	pps_table_reset(&pps_clients_table);
	pps_table_reset(&pps_pqueries_table);
}
