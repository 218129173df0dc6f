/*-------------------------------------------------------------------------
 *
 * pps_probe_worker.c
 *	  The probe background worker: snapshot cost and limits.
 *
 * Taking a snapshot needs a PGPROC registered in the proc array and a
 * transaction, i.e. a backend connected like any other.  The sampler can't
 * be one: it starts with the postmaster, before a standby is consistent, and
 * must keep sampling then.  So the probe runs in its own worker, started
 * once the server is consistent (on a hot standby as on a primary),
 * connected to no particular database (shared catalogs only, like the
 * logical replication launcher).  Each sample_interval it takes one batch of
 * snapshots in a short transaction, then measures the limits (the expensive
 * ones every 10 s), and publishes both in shared memory under seqlocks; the
 * sampler copies the latest results into its sample.  Keeping the limits
 * here keeps the sampler's own tick cheap and lets it run before
 * consistency; limits matter once connections are possible, which on a
 * standby is after consistency too.
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
#include "utils/timestamp.h"

#include "pps_compat.h"
#include "pps_guc.h"
#include "pps_loop.h"
#include "pps_probe_worker.h"
#include "pps_shmem.h"
#include "pps_shmem_overhead.h"
#include "source_bgworkers.h"
#include "source_children.h"
#include "source_limits.h"
#include "source_postmaster.h"
#include "source_snapshot.h"

/* ~10 kB: static rather than on the stack */
static PpsLimitsReading pps_limits_reading;

void
pps_probe_worker_register(void)
{
	pps_loop_register("pps_probe_worker_main", PPS_PROBE_WORKER_TYPE,
					  BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
					  BgWorkerStart_ConsistentState);
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
	pps_snapshot_probe(&probe, &pps_shared->snapshot_hist);
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	pps_shmem_probe_publish(&probe);
}

/*
 * Limits: the connection and process counts come from the same shared
 * arrays the sampler reads; the kernel's child list, PSS and the per-user
 * task count only every PPS_LIMITS_SLOW_INTERVAL_MS.
 */
static void
pps_probe_limits(void)
{
	static TimestampTz slow_at = 0;
	static int32 children = -1;
	TimestampTz now = GetCurrentTimestamp();
	bool		slow = slow_at == 0 ||
		now - slow_at >= (int64) PPS_LIMITS_SLOW_INTERVAL_MS * 1000;
	PpsLimitsInput in;
	PpsChildrenReading ch;
	PpsBgwReading bgw;
	char		err[PPS_DETAIL_LEN];
	double		start = pps_thread_cpu_us();
	double		cost;
	PpsLimitsSummary sum;

	if (slow)
	{
		PpsSample latest;

		/*
		 * The kernel walks every child to list them (milliseconds with
		 * thousands): take the sampler's count, read at the same pace,
		 * when it has one.
		 */
		if (pps_shmem_ring_latest(&latest) &&
			(latest.valid & PPS_SRC_BIT(PPS_SRC_POSTMASTER)) && latest.pm_children >= 0)
			children = latest.pm_children;
		else
			children = pps_pm_children(PostmasterPid);
		slow_at = now;
	}
	in.postmaster_pid = PostmasterPid;
	in.children = children;
	if (pps_children_read(&ch, err, sizeof(err)))
	{
		in.client_backends = ch.by_type[B_BACKEND];
		in.wal_senders = ch.by_type[B_WAL_SENDER];
	}
	else
		in.client_backends = in.wal_senders = -1;
	in.bgw_slots_in_use = pps_bgw_read(&bgw, err, sizeof(err)) ? bgw.slots_in_use : -1;

	pps_limits_collect(&in, slow, &pps_limits_reading);

	/* what the sampler records each tick: the lowest headroom */
	memset(&sum, 0, sizeof(sum));
	sum.nlimits = pps_limits_reading.nlimits;
	sum.min_index = -1;
	for (int i = 0; i < pps_limits_reading.nlimits; i++)
	{
		double		h = pps_limit_headroom_pct(&pps_limits_reading.limits[i]);

		if (isnan(h) || pps_limit_is_setting(pps_limits_reading.limits[i].name))
			continue;
		sum.nmeasured++;
		if (sum.min_index < 0 || h < sum.min_headroom_pct)
		{
			sum.min_headroom_pct = h;
			sum.min_index = i;
		}
	}
	cost = pps_thread_cpu_us() - start;
	sum.cost_us = sum.slow_cost_us = cost;
	pps_shmem_limits_publish(&pps_limits_reading, &sum, slow);
}

static void
pps_probe_tick(void)
{
	PpsOvhCounters *c = &pps_shared->ovh;
	uint64		t0;

	if (pps_enabled)
	{
		t0 = pps_ovh_thread_cpu_ns();
		if (pps_snapshot_probe_enabled)
			pps_probe_once();
		pg_atomic_fetch_add_u64(&c->probe_src_ns[PPS_SRC_SNAPSHOT], pps_ovh_thread_cpu_ns() - t0);
		t0 = pps_ovh_thread_cpu_ns();
		pps_probe_limits();
		pg_atomic_fetch_add_u64(&c->probe_src_ns[PPS_SRC_LIMITS], pps_ovh_thread_cpu_ns() - t0);
	}
	pps_ovh_worker_tick(&c->probe_ticks, &c->probe_cpu_ns);
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
