/*-------------------------------------------------------------------------
 *
 * pps_shmem_attrib.h
 *	  The attribution tables: connections by client (database, role,
 *	  application_name, address) and parallel workers by query.  Written by
 *	  the authentication and executor-end hooks, read by SQL; see
 *	  pps_shmem_table.c for the locking.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SHMEM_ATTRIB_H
#define PPS_SHMEM_ATTRIB_H

#include "pps_shmem_table.h"

/* A client as it introduced itself; zero-padded so that memcmp compares. */
typedef struct PpsClientKey
{
	char		database[NAMEDATALEN];
	char		role[NAMEDATALEN];	/* as asked, also when it does not exist */
	char		application_name[NAMEDATALEN];
	uint8		addr_family;	/* 0: Unix socket, 4: IPv4, 6: IPv6 */
	uint8		addr[16];
} PpsClientKey;

typedef enum PpsClientCounter
{
	PPS_CLIENT_CONNECTIONS = 0, /* the sampler smooths its rate */
	PPS_CLIENT_AUTH_FAILURES,
	PPS_CLIENT_SESSIONS_ENDED,
	PPS_CLIENT_SESSION_US,
	PPS_CLIENT_SHORT_SESSIONS,
	PPS_CLIENT_SETUP_US,
	PPS_CLIENT_NCOUNTERS
} PpsClientCounter;

typedef struct PpsParallelKey
{
	int64		queryid;		/* 0: compute_query_id was off */
	Oid			dbid;
	Oid			userid;
} PpsParallelKey;

typedef enum PpsParallelCounter
{
	PPS_PQ_EXECUTIONS = 0,
	PPS_PQ_PLANNED,
	PPS_PQ_LAUNCHED,
	PPS_PQ_NCOUNTERS
} PpsParallelCounter;

/* a session shorter than this counts in short_sessions_total */
#define PPS_SHORT_SESSION_US 1000000
/* time constant of the smoothed connection rate per client */
#define PPS_CLIENT_RATE_TAU_S 10.0

extern PpsTable pps_clients_table;
extern PpsTable pps_pqueries_table;

extern void pps_attrib_request(void);
extern void pps_attrib_startup(void);
extern void pps_attrib_reset(void);

#endif							/* PPS_SHMEM_ATTRIB_H */
