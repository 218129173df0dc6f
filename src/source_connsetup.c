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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/auth.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_shmem_overhead.h"
#include "source_connsetup.h"

static ClientAuthentication_hook_type pps_prev_client_auth_hook = NULL;

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
