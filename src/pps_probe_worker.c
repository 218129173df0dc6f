/*-------------------------------------------------------------------------
 *
 * pps_probe_worker.c
 *	  The snapshot probe background worker.
 *
 * Taking a snapshot needs a PGPROC registered in the proc array and a
 * transaction, i.e. a backend connected like any other.  The sampler can't
 * be one: it starts with the postmaster, before a standby is consistent, and
 * must keep sampling then.  So the probe runs in its own worker, started
 * once the server is consistent (on a hot standby as on a primary),
 * connected to no particular database (shared catalogs only, like the
 * logical replication launcher).  Each sample_interval it takes one batch of
 * snapshots in a short transaction and publishes the result in shared memory
 * under a seqlock; the sampler copies the latest result into its sample.
 *
 * Like the sampler, it exits with code 1 on SIGTERM and on ERROR, and the
 * postmaster starts it again after 5 s.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"

#include "pps_compat.h"
#include "pps_loop.h"
#include "pps_probe_worker.h"
#include "pps_shmem.h"
#include "source_snapshot.h"

#define PPS_PROBE_RESTART_SECONDS 5

extern bool pps_enabled;
extern bool pps_snapshot_probe_enabled;

void
pps_probe_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = PPS_PROBE_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "pg_postmaster_stats", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pps_probe_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, PPS_PROBE_WORKER_TYPE, BGW_MAXLEN);
	strlcpy(worker.bgw_type, PPS_PROBE_WORKER_TYPE, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

static void
pps_probe_on_exit(int code, Datum arg)
{
	pg_atomic_write_u32(&pps_shared->probe_pid, 0);
}

static void
pps_probe_once(void)
{
	PpsSnapshotProbe probe;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, "snapshot probe");
	pps_snapshot_probe(&probe);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	pps_probe_publish(&probe);
}

static void
pps_probe_tick(void)
{
	if (pps_enabled && pps_snapshot_probe_enabled)
		pps_probe_once();
}

void
pps_probe_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* no database: only shared catalogs, none of which we read */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	pg_atomic_write_u32(&pps_shared->probe_pid, (uint32) MyProcPid);
	before_shmem_exit(pps_probe_on_exit, (Datum) 0);

	pps_loop_run(pps_probe_tick);
}
