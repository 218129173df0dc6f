/*-------------------------------------------------------------------------
 *
 * pps_loop.c
 *	  What the extension's background workers share: registration and the
 *	  deadline loop.
 *
 * Ticks follow a deadline schedule (next = previous deadline + interval),
 * so an hour of samples does not drift by the time each tick takes.  A
 * worker that fell behind by more than a tick (suspended, or a tick longer
 * than the interval) resynchronises instead of firing a burst.  SIGHUP
 * reloads the configuration and a changed interval takes effect at once.
 * SIGTERM ends the loop with exit code 1, so a worker stopped by hand is
 * restarted by the postmaster; at shutdown the postmaster restarts nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pps_guc.h"
#include "pps_loop.h"

bool		pps_config_reloaded = false;

/* A static worker of this library; restarted PPS_WORKER_RESTART_SECONDS after it stops. */
void
pps_loop_register(const char *function, const char *type, int flags,
				  BgWorkerStartTime start_time)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = flags;
	worker.bgw_start_time = start_time;
	worker.bgw_restart_time = PPS_WORKER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "pg_postmaster_stats", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker.bgw_name, type, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* CPU time of the calling thread, in microseconds: what a tick costs. */
double
pps_thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000.0 + ts.tv_nsec / 1000.0;
}

void
pps_loop_run(pps_tick_fn tick)
{
	TimestampTz next_tick = GetCurrentTimestamp();

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		int64		interval_us = (int64) pps_sample_interval_ms * 1000;
		long		timeout_ms;

		if (now >= next_tick)
		{
			tick();
			next_tick += interval_us;
			if (next_tick <= now)
				next_tick = now + interval_us;
			now = GetCurrentTimestamp();
		}

		timeout_ms = (long) ((next_tick - now + 999) / 1000);
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(timeout_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			int			old_interval = pps_sample_interval_ms;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			pps_config_reloaded = true;
			if (pps_sample_interval_ms != old_interval)
				next_tick = GetCurrentTimestamp() + (int64) pps_sample_interval_ms * 1000;
		}
	}
	proc_exit(1);
}
