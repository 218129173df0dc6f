/*-------------------------------------------------------------------------
 *
 * source_connsetup.c
 *	  Connection counts and fork-to-authentication latency.
 *
 * ClientAuthentication_hook runs in every new backend (client and
 * replication connections) once authentication has been decided, before the
 * client is told.  MyStartTimestamp is taken by the child right after fork
 * returns, so now - MyStartTimestamp is the time from the child's birth to
 * the authentication decision: reading the startup packet, SSL, and the
 * authentication exchange.  The hook only does atomic adds on shared
 * memory: no lock, no allocation, nothing that can fail.
 *
 * Time spent before the fork (in the kernel's listen queue, waiting for the
 * postmaster) is not in this latency; source_accept.c shows that queue.
 *
 * Attribution: the same hook counts the connection under its client
 * (database and role as the client asked for them, application_name,
 * address) in pps_clients_table, and a session that authenticated registers
 * a before_shmem_exit callback that adds its lifetime there when it ends.
 * The key is built on the stack, the table takes a partition lock in
 * shared mode for a known client (pps_shmem_table.c); nothing allocates.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_shmem_overhead.h"
#include "pps_shmem_attrib.h"
#include "source_connsetup.h"

static ClientAuthentication_hook_type pps_prev_client_auth_hook = NULL;

/* this session's client, for its end */
static PpsClientKey pps_my_client;

static void
pps_client_key(Port *port, PpsClientKey *key)
{
	memset(key, 0, sizeof(*key));
	if (port->database_name)
		strlcpy(key->database, port->database_name, NAMEDATALEN);
	if (port->user_name)
		strlcpy(key->role, port->user_name, NAMEDATALEN);
	if (port->application_name)
		strlcpy(key->application_name, port->application_name, NAMEDATALEN);
	if (port->raddr.addr.ss_family == AF_INET)
	{
		key->addr_family = 4;
		memcpy(key->addr, &((struct sockaddr_in *) &port->raddr.addr)->sin_addr, 4);
	}
	else if (port->raddr.addr.ss_family == AF_INET6)
	{
		key->addr_family = 6;
		memcpy(key->addr, &((struct sockaddr_in6 *) &port->raddr.addr)->sin6_addr, 16);
	}
}

/* before_shmem_exit: shared memory and LWLocks still work here */
static void
pps_client_session_end(int code, Datum arg)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		us = Max(now - MyStartTimestamp, 0);
	uint64		deltas[PPS_CLIENT_NCOUNTERS] = {0};

	deltas[PPS_CLIENT_SESSIONS_ENDED] = 1;
	deltas[PPS_CLIENT_SESSION_US] = (uint64) us;
	deltas[PPS_CLIENT_SHORT_SESSIONS] = us < PPS_SHORT_SESSION_US ? 1 : 0;
	/* an entry evicted meanwhile is not created again for its end */
	pps_table_add(&pps_clients_table, &pps_my_client, deltas, now, false);
}

static void
pps_client_count(Port *port, int status, TimestampTz now, int64 setup_us)
{
	uint64		deltas[PPS_CLIENT_NCOUNTERS] = {0};

	pps_client_key(port, &pps_my_client);
	deltas[PPS_CLIENT_CONNECTIONS] = 1;
	deltas[PPS_CLIENT_AUTH_FAILURES] = status == STATUS_ERROR ? 1 : 0;
	deltas[PPS_CLIENT_SETUP_US] = (uint64) Max(setup_us, 0);
	pps_table_add(&pps_clients_table, &pps_my_client, deltas, now, true);
	if (status == STATUS_OK)
		before_shmem_exit(pps_client_session_end, (Datum) 0);
}

static void
pps_connsetup_hook(Port *port, int status)
{
	uint64		timed = pps_shared != NULL ? pps_ovh_hook_enter(PPS_OVH_AUTH_HOOK) : 0;

	if (pps_enabled && pps_shared != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();
		int64		us = now - MyStartTimestamp;

		pg_atomic_fetch_add_u64(&pps_shared->connections_total, 1);

		/*
		 * STATUS_EOF is a client that hung up when asked for a password
		 * (psql does this before prompting); it is not a failed attempt.
		 */
		if (status == STATUS_ERROR)
			pg_atomic_fetch_add_u64(&pps_shared->auth_failures_total, 1);
		pps_hist_record(&pps_shared->conn_setup, us > 0 ? (uint64) us : 0);
		if (pps_attribution && pps_clients_table.sh != NULL)
			pps_client_count(port, status, now, us);
	}
	if (timed != 0)
		pps_ovh_hook_leave(PPS_OVH_AUTH_HOOK, timed);

	if (pps_prev_client_auth_hook)
		pps_prev_client_auth_hook(port, status);
}

void
pps_connsetup_install(void)
{
	pps_prev_client_auth_hook = ClientAuthentication_hook;
	ClientAuthentication_hook = pps_connsetup_hook;
}
