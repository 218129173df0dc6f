/*-------------------------------------------------------------------------
 *
 * pps_worker.c
 *	  The sampler background worker.
 *
 * A static worker started with the postmaster (so it also runs on a standby
 * before it is consistent).  Every sample_interval (pps_loop.c) it reads
 * each source, turns cumulative readings into per-interval rates and
 * appends one sample to the ring; rates divide by the measured time
 * between samples.
 *
 * It never needs a database connection or a lock other readers wait for.
 * An ERROR exits with code 1 and the postmaster starts it again after
 * PPS_WORKER_RESTART_SECONDS; the counters and the ring live in shared
 * memory and survive that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <math.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pps_guc.h"
#include "pps_loop.h"
#include "pps_try.h"
#include "pps_probe_worker.h"
#include "pps_shmem.h"
#include "pps_shmem_overhead.h"
#include "pps_shmem_attrib.h"
#include "pps_worker.h"
#include "pps_worker_overhead.h"
#include "pps_worker_bpf.h"
#include "pps_worker_cgroup.h"
#include "pps_worker_replay.h"
#include "source_accept.h"
#include "source_bgworkers.h"
#include "source_children.h"
#include "source_limits.h"
#include "source_postmaster.h"

/* Previous cumulative readings, to turn them into per-interval rates. */
typedef struct PpsPrevious
{
	TimestampTz time;			/* 0: no previous sample */
	bool		pm_ok;
	PpsPmReading pm;
	bool		accept_ok;
	int64		listen_drops;
	uint64		reset_generation;
	uint64		connections;
	uint64		auth_failures;
	PpsHistogramCopy conn_setup;
	bool		bgw_ok;
	uint32		parallel_register_count;
	uint32		parallel_terminate_count;
	uint64		parallel_planned;
	uint64		parallel_launched;
	bool		children_ok;
	int			n_autovacuum;
	int			autovacuum_pids[PPS_MAX_AUTOVACUUM_PIDS];
	bool		bpf_ok;			/* the eBPF source sampled last tick */
} PpsPrevious;

static PpsPrevious prev;

/*
 * Readings refreshed every PPS_PM_SLOW_REFRESH_US (longer with thousands of
 * children, see below): the kernel's child count,
 * and the user/system clock ticks whose ratio over the last window splits
 * each tick's exact CPU time.
 */
typedef struct PpsSlowReadings
{
	TimestampTz read_at;		/* 0: never */
	int32		children;
	bool		ticks_ok;
	uint64		utime_ticks;
	uint64		stime_ticks;
	double		user_share;		/* utime / (utime + stime) over the window */
	int64		refresh_us;		/* PPS_PM_SLOW_REFRESH_US, longer with many children */
} PpsSlowReadings;

/* the kernel's child list: at most this much CPU per second on average */
#define PPS_PM_CHILDREN_BUDGET_US 50.0

static PpsSlowReadings slow = {0, -1, false, 0, 0, 1.0, PPS_PM_SLOW_REFRESH_US};

void
pps_worker_register(void)
{
	pps_loop_register("pps_worker_main", PPS_WORKER_TYPE, BGWORKER_SHMEM_ACCESS,
					  BgWorkerStart_PostmasterStart);
}

static void
pps_worker_on_exit(int code, Datum arg)
{
	pps_wbpf_own_exit(code);
	pps_wbpf_detach();
	pps_accept_close();
	pg_atomic_write_u32(&pps_shared->worker_pid, 0);
}

static double
pps_rate(int64 cur, int64 before, double seconds)
{
	/* a counter that went backwards was reset: count from zero */
	return (double) (cur >= before ? cur - before : cur) / seconds;
}

static void
pps_refresh_slow_readings(TimestampTz now)
{
	uint64		utime;
	uint64		stime;
	double		start;

	if (slow.read_at != 0 && now - slow.read_at < slow.refresh_us)
		return;
	slow.read_at = now;
	start = pps_thread_cpu_us();
	slow.children = pps_pm_children(PostmasterPid);
	/*
	 * The kernel walks every child to list them: with thousands that is
	 * milliseconds, so read them less often, keeping the average under
	 * PPS_PM_CHILDREN_BUDGET_US per second (at least every minute).
	 */
	slow.refresh_us = Min(Max((int64) ((pps_thread_cpu_us() - start) / PPS_PM_CHILDREN_BUDGET_US * 1e6),
							  (int64) PPS_PM_SLOW_REFRESH_US),
						  (int64) 60 * 1000 * 1000);
	if (pps_pm_read_ticks(PostmasterPid, &utime, &stime))
	{
		if (slow.ticks_ok)
		{
			uint64		du = utime - slow.utime_ticks;
			uint64		ds = stime - slow.stime_ticks;

			if (du + ds > 0)
				slow.user_share = (double) du / (double) (du + ds);
		}
		else if (utime + stime > 0)
			slow.user_share = (double) utime / (double) (utime + stime);
		slow.utime_ticks = utime;
		slow.stime_ticks = stime;
		slow.ticks_ok = true;
	}
	else
		slow.ticks_ok = false;
}

static void
pps_sample_postmaster(PpsSample *s, double seconds)
{
	PpsPmReading pm;
	char		err[PPS_DETAIL_LEN];

	if (!pps_pm_read(PostmasterPid, &pm, err, sizeof(err)))
	{
		pps_shmem_sources_set(PPS_SRC_POSTMASTER, false, "%s", err);
		prev.pm_ok = false;
		return;
	}
	pps_refresh_slow_readings(s->time);

	s->valid |= PPS_SRC_BIT(PPS_SRC_POSTMASTER);
	s->pm_rss_bytes = pm.rss_bytes;
	s->pm_pagetable_bytes = pm.pagetable_bytes;
	s->pm_children = slow.children;

	if (s->has_rates && prev.pm_ok)
	{
		s->pm_cpu_pct = 100.0 * (pm.runtime_ns - prev.pm.runtime_ns) / 1e9 / seconds;
		s->pm_cpu_wait_pct = 100.0 * (pm.rundelay_ns - prev.pm.rundelay_ns) / 1e9 / seconds;
		if (slow.ticks_ok)
		{
			s->pm_cpu_user_pct = s->pm_cpu_pct * slow.user_share;
			s->pm_cpu_system_pct = s->pm_cpu_pct - s->pm_cpu_user_pct;
		}
		s->pm_voluntary_ctxsw_per_s =
			pps_rate(pm.voluntary_ctxsw, prev.pm.voluntary_ctxsw, seconds);
		s->pm_involuntary_ctxsw_per_s =
			pps_rate(pm.involuntary_ctxsw, prev.pm.involuntary_ctxsw, seconds);
	}
	pps_shmem_sources_set(PPS_SRC_POSTMASTER, true,
						  "pid %d: /proc/%d/schedstat and status every sample; stat and task/%d/children every %d s",
						  (int) PostmasterPid, (int) PostmasterPid, (int) PostmasterPid,
						  (int) (slow.refresh_us / 1000000));
	prev.pm = pm;
	prev.pm_ok = true;
}

static void
pps_sample_accept(PpsSample *s, double seconds)
{
	PpsAcceptReading r;
	char		err[PPS_DETAIL_LEN];

	if (!pps_accept_read(PostmasterPid, &r, err, sizeof(err)))
	{
		pps_shmem_sources_set(PPS_SRC_ACCEPT, false, "%s", err);
		prev.accept_ok = false;
		return;
	}
	s->valid |= PPS_SRC_BIT(PPS_SRC_ACCEPT);
	s->accept_queue_depth = r.depth;
	s->accept_queue_max = r.max_backlog;
	s->listen_sockets = r.nlisteners;
	s->listen_drops_total = r.drops;
	if (prev.accept_ok && s->has_rates)
		s->listen_drops_per_s = pps_rate(r.drops, prev.listen_drops, seconds);
	if (r.unix_every > 1)
		pps_shmem_sources_set(PPS_SRC_ACCEPT, true,
							  "sock_diag netlink: %d listening socket(s) of the postmaster; Unix sockets read every %d samples (the kernel walks every Unix socket to find one: %.0f us)",
							  r.nlisteners, r.unix_every, r.unix_lookup_us);
	else
		pps_shmem_sources_set(PPS_SRC_ACCEPT, true,
							  "sock_diag netlink: %d listening socket(s) of the postmaster",
							  r.nlisteners);
	prev.accept_ok = true;
	prev.listen_drops = r.drops;
}

static void
pps_sample_connsetup(PpsSample *s, double seconds)
{
	uint64		gen = pg_atomic_read_u64(&pps_shared->reset_generation);
	uint64		conns = pg_atomic_read_u64(&pps_shared->connections_total);
	uint64		fails = pg_atomic_read_u64(&pps_shared->auth_failures_total);
	PpsHistogramCopy hist;

	pps_hist_copy(&pps_shared->conn_setup, &hist);

	/* after a reset, the previous readings are from before it */
	if (gen != prev.reset_generation)
	{
		prev.connections = 0;
		prev.auth_failures = 0;
		prev.parallel_planned = 0;
		prev.parallel_launched = 0;
		memset(&prev.conn_setup, 0, sizeof(prev.conn_setup));
		prev.reset_generation = gen;
	}

	s->valid |= PPS_SRC_BIT(PPS_SRC_CONNSETUP);
	if (s->has_rates)
	{
		uint64		n = conns >= prev.connections ? conns - prev.connections : conns;
		uint64		sum = hist.sum_us >= prev.conn_setup.sum_us ?
		hist.sum_us - prev.conn_setup.sum_us : hist.sum_us;
		uint64		nhist = pps_hist_count(&hist) - Min(pps_hist_count(&prev.conn_setup),
														pps_hist_count(&hist));

		s->connections_per_s = pps_rate(conns, prev.connections, seconds);
		s->auth_failures_per_s = pps_rate(fails, prev.auth_failures, seconds);
		s->conn_setup_avg_seconds = nhist > 0 ? sum / 1e6 / nhist : get_float8_nan();
		s->conn_setup_p99_seconds = n > 0 ?
			pps_hist_quantile_delta(&hist, &prev.conn_setup, 0.99,
									PPS_HIST_UNIT_US) : get_float8_nan();
	}
	pps_shmem_sources_set(PPS_SRC_CONNSETUP, true,
						  "ClientAuthentication_hook: counts every connection that reaches authentication");
	prev.connections = conns;
	prev.auth_failures = fails;
	prev.conn_setup = hist;
}

/*
 * The two arrays the children source reads have a slot per possible
 * process: with thousands of connections a pass over them, with caches
 * cold after the sampler's sleep, is most of a tick.  Their counts change
 * only when a process starts or ends, and eBPF counts every fork and exit
 * of the postmaster's children exactly: with it, the arrays are read when
 * a child forked or exited in the last PPS_CHILDREN_SETTLE_US (a new
 * process joins the arrays a few milliseconds after its fork), while a
 * connection was seen still authenticating, and at least every
 * PPS_CHILDREN_RESCAN_US; otherwise the previous reading stands.  Without
 * eBPF they are read every tick.
 */
#define PPS_CHILDREN_SETTLE_US (3 * 1000 * 1000)
#define PPS_CHILDREN_RESCAN_US (10 * 1000 * 1000)

static struct
{
	uint64		events;			/* eBPF's forks + exits, as last seen */
	TimestampTz changed_at;		/* when they last moved */
	TimestampTz scanned_at;
	uint16		by_type[PPS_MAX_BACKEND_TYPES];
	int32		unregistered;
} children_scan;

static uint64
pps_children_events(void)
{
	uint64		n = pg_atomic_read_u64(&pps_shared->bpf_forks_total);

	for (int i = 0; i < PPS_BPF_NCHILD_TYPES; i++)
		n += pg_atomic_read_u64(&pps_shared->bpf_exits_total[i]) +
			pg_atomic_read_u64(&pps_shared->bpf_exits_unseen_total[i]);
	return n;
}

static bool
pps_children_scan_needed(TimestampTz now)
{
	uint64		events = pps_children_events();

	if (events != children_scan.events)
	{
		children_scan.events = events;
		children_scan.changed_at = now;
	}
	return !prev.bpf_ok || !prev.children_ok || children_scan.unregistered > 0 ||
		now - children_scan.changed_at < PPS_CHILDREN_SETTLE_US ||
		now - children_scan.scanned_at >= PPS_CHILDREN_RESCAN_US;
}

static bool
pps_try_children_read(void *arg, char *err, size_t errlen)
{
	return pps_children_read((PpsChildrenReading *) arg, err, errlen);
}

static void
pps_sample_children(PpsSample *s)
{
	PpsChildrenReading r;
	char		err[PPS_DETAIL_LEN];

	if (!pps_children_scan_needed(s->time))
	{
		/* no process started or ended: the counts stand, none is new */
		s->valid |= PPS_SRC_BIT(PPS_SRC_CHILDREN);
		memcpy(s->children_by_type, children_scan.by_type, sizeof(s->children_by_type));
		s->autovacuum_workers_started = 0;
		s->children_unregistered = children_scan.unregistered;
		return;
	}

	/* attaching can ERROR if the array's size is not what we computed */
	if (!pps_try(pps_try_children_read, &r, "could not attach to the backend status array",
				 err, sizeof(err)))
	{
		pps_shmem_sources_set(PPS_SRC_CHILDREN, false, "%s", err);
		prev.children_ok = false;
		return;
	}
	s->valid |= PPS_SRC_BIT(PPS_SRC_CHILDREN);
	memcpy(s->children_by_type, r.by_type, sizeof(s->children_by_type));

	/*
	 * Autovacuum workers started: pids not seen in the previous sample.  A
	 * worker that lived and died between two samples is missed; the eBPF
	 * exit counts are exact.
	 */
	s->autovacuum_workers_started = -1;
	if (prev.children_ok)
	{
		int			started = 0;

		for (int i = 0; i < r.n_autovacuum; i++)
		{
			bool		seen = false;

			for (int j = 0; j < prev.n_autovacuum && !seen; j++)
				seen = prev.autovacuum_pids[j] == r.autovacuum_pids[i];
			if (!seen)
				started++;
		}
		s->autovacuum_workers_started = started;
		pg_atomic_fetch_add_u64(&pps_shared->autovacuum_started_total, started);
	}
	prev.children_ok = true;
	prev.n_autovacuum = r.n_autovacuum;
	memcpy(prev.autovacuum_pids, r.autovacuum_pids, sizeof(int) * r.n_autovacuum);
	/*
	 * Proc-array members missing from the status array: connections that
	 * joined the proc array in InitPostgres() but have not finished
	 * authenticating (they register in the status array right after).
	 */
	s->children_unregistered = Max(pps_children_in_procarray() - r.registered_in_procarray, 0);

	children_scan.scanned_at = s->time;
	children_scan.unregistered = s->children_unregistered;
	memcpy(children_scan.by_type, s->children_by_type, sizeof(children_scan.by_type));
	if (prev.bpf_ok)
		pps_shmem_sources_set(PPS_SRC_CHILDREN, true,
							  "backend status array (%d registered) and PGPROC array: read when eBPF saw a child start or end in the last %d s or a connection is authenticating, else every %d s",
							  r.registered, PPS_CHILDREN_SETTLE_US / 1000000,
							  PPS_CHILDREN_RESCAN_US / 1000000);
	else
		pps_shmem_sources_set(PPS_SRC_CHILDREN, true,
							  "backend status array (%d registered) and PGPROC array: read every sample (eBPF, when active, tells when nothing changed)",
							  r.registered);
}

static void
pps_sample_bgworkers(PpsSample *s, double seconds)
{
	PpsBgwReading r;
	char		err[PPS_DETAIL_LEN];

	if (!pps_bgw_read(&r, err, sizeof(err)))
	{
		pps_shmem_sources_set(PPS_SRC_BGWORKERS, false, "%s", err);
		prev.bgw_ok = false;
		return;
	}
	s->valid |= PPS_SRC_BIT(PPS_SRC_BGWORKERS);
	s->bgw_slots_total = r.slots_total;
	s->bgw_slots_in_use = r.slots_in_use;
	s->bgw_not_started = r.not_started;
	s->bgw_parallel_active = (int32) (uint32) (r.parallel_register_count - r.parallel_terminate_count);

	/* registrations are counted since the previous read, whatever the gap */
	pg_atomic_fetch_add_u64(&pps_shared->bgw_registrations_total, r.registrations);
	if (prev.bgw_ok)
	{
		/* uint32 arithmetic: the server's counters wrap */
		uint32		reg = r.parallel_register_count - prev.parallel_register_count;
		uint32		term = r.parallel_terminate_count - prev.parallel_terminate_count;

		pg_atomic_fetch_add_u64(&pps_shared->bgw_parallel_registered_total, reg);
		pg_atomic_fetch_add_u64(&pps_shared->bgw_parallel_terminated_total, term);
		if (s->has_rates)
		{
			s->bgw_parallel_registered_per_s = reg / seconds;
			s->bgw_parallel_terminated_per_s = term / seconds;
			s->bgw_registrations_per_s = r.registrations / seconds;
		}
	}
	pps_shmem_sources_set(PPS_SRC_BGWORKERS, true,
						  "\"%s\" segment: %d slots (max_worker_processes)",
						  PPS_BGW_SEGMENT_NAME, r.slots_total);
	prev.bgw_ok = true;
	prev.parallel_register_count = r.parallel_register_count;
	prev.parallel_terminate_count = r.parallel_terminate_count;
}

static void
pps_sample_parallel(PpsSample *s, double seconds)
{
	uint64		planned = pg_atomic_read_u64(&pps_shared->parallel_planned_total);
	uint64		launched = pg_atomic_read_u64(&pps_shared->parallel_launched_total);

	s->valid |= PPS_SRC_BIT(PPS_SRC_PARALLEL);
	if (s->has_rates)
	{
		s->parallel_planned_per_s = pps_rate(planned, prev.parallel_planned, seconds);
		s->parallel_launched_per_s = pps_rate(launched, prev.parallel_launched, seconds);
	}
	pps_shmem_sources_set(PPS_SRC_PARALLEL, true,
						  "ExecutorEnd_hook: Gather and Gather Merge nodes of every leader%s",
						  pps_table_flag(&pps_pqueries_table) ?
						  "; some ran without a queryid (compute_query_id is off): they share the NULL-queryid row of pg_postmaster_stats_parallel_queries" : "");
	prev.parallel_planned = planned;
	prev.parallel_launched = launched;
}

/* Copy the probe worker's latest result, if it is from the last two intervals. */
static void
pps_sample_snapshot(PpsSample *s)
{
	PpsSnapshotProbe p;
	uint32		probe_pid = pg_atomic_read_u32(&pps_shared->probe_pid);
	int64		max_age_us = 2 * (int64) pps_sample_interval_ms * 1000;

	if (!pps_snapshot_probe_enabled)
	{
		pps_shmem_sources_set(PPS_SRC_SNAPSHOT, false,
							  "pg_postmaster_stats.snapshot_probe is off; set it to on and reload");
		return;
	}
	if (probe_pid == 0)
	{
		pps_shmem_sources_set(PPS_SRC_SNAPSHOT, false,
							  RecoveryInProgress() && !HotStandbyActive() ?
							  "waiting for the standby to reach a consistent state with hot_standby = on; the probe worker starts then" :
							  "the probe worker is not running; the postmaster starts it within 5 s, look for \"" PPS_PROBE_WORKER_TYPE "\" in the server log if it stays down");
		return;
	}
	if (!pps_shmem_probe_read(&p) || s->time - p.time > max_age_us)
	{
		pps_shmem_sources_set(PPS_SRC_SNAPSHOT, false,
							  "probe worker pid %u has not published a recent probe yet", probe_pid);
		return;
	}
	s->valid |= PPS_SRC_BIT(PPS_SRC_SNAPSHOT);
	s->snapshot_ns = p.ns_median;
	s->snapshot_ns_max = p.ns_max;
	s->snapshot_xcnt = p.xcnt;
	s->snapshot_subxcnt = p.subxcnt;
	s->snapshot_suboverflowed = p.suboverflowed;
	s->snapshot_procs = p.procs_in_use;
	s->snapshot_oldest_xid_age = p.oldest_xid_age;
	pps_shmem_sources_set(PPS_SRC_SNAPSHOT, true,
						  "probe worker pid %u: %d full GetSnapshotData() calls per interval%s",
						  probe_pid, p.calls, p.in_recovery ? " (hot standby: running xids are all in subxcnt)" : "");
}

/* The limit closest to its maximum, from the probe worker's latest reading. */
static void
pps_sample_limits(PpsSample *s)
{
	PpsLimitsSummary sum;
	uint32		probe_pid = pg_atomic_read_u32(&pps_shared->probe_pid);

	s->limits_min_index = -1;
	if (probe_pid == 0 || !pps_shmem_limits_summary_read(&sum) ||
		s->time - sum.time > 2 * (int64) pps_sample_interval_ms * 1000 + PPS_LIMITS_SLOW_MARGIN_US)
	{
		pps_shmem_sources_set(PPS_SRC_LIMITS, false,
							  probe_pid == 0 ?
							  "the probe worker is not running (it starts once the server is consistent)" :
							  "the probe worker has not published recent limits yet");
		return;
	}
	/* the probe wrote the index; keep it within the reading's rows */
	if (sum.min_index >= 0 && sum.min_index < PPS_MAX_LIMITS)
	{
		s->limits_min_index = (int16) sum.min_index;
		s->limits_min_headroom_pct = sum.min_headroom_pct;
	}
	s->valid |= PPS_SRC_BIT(PPS_SRC_LIMITS);
	pps_shmem_sources_set(PPS_SRC_LIMITS, true,
						  "probe worker pid %u: %d of %d limits measured every sample (%.0f us); memory per backend, user tasks and cgroup memory every %d s (%.0f us)",
						  probe_pid, sum.nmeasured, sum.nlimits, sum.cost_us,
						  PPS_LIMITS_SLOW_INTERVAL_MS / 1000, sum.slow_cost_us);
}

/*
 * Run one source's collection and add its thread CPU to its overhead row.
 * One clock read per source: the end of one is the start of the next
 * (each read of the thread's CPU clock is a system call, not the vDSO).
 */
#define PPS_TIMED(src, call) \
	do { \
		call; \
		lap = pps_timed_lap(src, lap); \
	} while (0)

static uint64
pps_timed_lap(PpsSource src, uint64 since)
{
	uint64		now = pps_ovh_thread_cpu_ns();

	pg_atomic_fetch_add_u64(&pps_shared->ovh.sampler_src_ns[src], now - since);
	return now;
}

static void
pps_worker_tick(void)
{
	PpsSample	s;
	uint64		cpu_start = pps_ovh_thread_cpu_ns();
	uint64		lap = cpu_start;
	double		seconds = 0;

	memset(&s, 0, sizeof(s));
	s.time = GetCurrentTimestamp();
	if (prev.time != 0 && s.time > prev.time)
	{
		seconds = (s.time - prev.time) / 1e6;
		s.has_rates = true;
	}
	s.interval_seconds = seconds;

	/* rates stay NaN (NULL in SQL) unless a source can compute them */
	s.pm_cpu_pct = s.pm_cpu_user_pct = s.pm_cpu_system_pct = get_float8_nan();
	s.pm_cpu_wait_pct = get_float8_nan();
	s.pm_voluntary_ctxsw_per_s = s.pm_involuntary_ctxsw_per_s = get_float8_nan();
	s.listen_drops_per_s = get_float8_nan();
	s.connections_per_s = s.auth_failures_per_s = get_float8_nan();
	s.conn_setup_avg_seconds = s.conn_setup_p99_seconds = get_float8_nan();
	s.bgw_registrations_per_s = get_float8_nan();
	s.bgw_parallel_registered_per_s = s.bgw_parallel_terminated_per_s = get_float8_nan();
	s.parallel_planned_per_s = s.parallel_launched_per_s = get_float8_nan();
	s.limits_min_headroom_pct = get_float8_nan();
	s.forks_per_s = s.exits_per_s = s.abnormal_exits_per_s = s.reaps_per_s = get_float8_nan();
	s.fork_avg_seconds = s.reap_latency_avg_seconds = get_float8_nan();
	for (int i = 0; i < PPS_BPF_NCPU_STATES; i++)
		s.cpu_share_pct[i] = get_float8_nan();
	s.server_oncpu_samples = -1;
	s.snapshot_cpu_share_pct = get_float8_nan();

	/* the setup above goes to the first source */
	PPS_TIMED(PPS_SRC_POSTMASTER, pps_sample_postmaster(&s, seconds));
	PPS_TIMED(PPS_SRC_ACCEPT, pps_sample_accept(&s, seconds));
	/* the per-client rates are the connection_setup source's */
	PPS_TIMED(PPS_SRC_CONNSETUP,
			  (pps_sample_connsetup(&s, seconds),
			   pps_table_sample(&pps_clients_table, seconds, PPS_CLIENT_RATE_TAU_S)));
	PPS_TIMED(PPS_SRC_CHILDREN, pps_sample_children(&s));
	PPS_TIMED(PPS_SRC_BGWORKERS, pps_sample_bgworkers(&s, seconds));
	PPS_TIMED(PPS_SRC_PARALLEL, pps_sample_parallel(&s, seconds));
	PPS_TIMED(PPS_SRC_SNAPSHOT, pps_sample_snapshot(&s));
	PPS_TIMED(PPS_SRC_LIMITS, pps_sample_limits(&s));
	PPS_TIMED(PPS_SRC_EBPF, (pps_wbpf_attach(pps_config_reloaded),
							 pps_wbpf_sample(&s, seconds)));
	pps_config_reloaded = false;
	PPS_TIMED(PPS_SRC_REPLAY, pps_wreplay_sample(&s, seconds));
	PPS_TIMED(PPS_SRC_CGROUP_CPU, pps_wcgroup_sample(&s, seconds));

	s.sampler_cpu_us = (lap - cpu_start) / 1000.0;
	prev.bpf_ok = (s.valid & PPS_SRC_BIT(PPS_SRC_EBPF)) != 0;
	pps_shmem_ring_append(&s);
	prev.time = s.time;
	pps_ovh_worker_tick(&pps_shared->ovh.sampler_ticks, &pps_shared->ovh.sampler_cpu_ns);
	pps_wovh_tick_end(s.time, s.sampler_cpu_us);
}

static void
pps_worker_set_disabled(void)
{
	for (int i = 0; i < PPS_NUM_SOURCES; i++)
		pps_shmem_sources_set((PpsSource) i, false,
							  "pg_postmaster_stats.enabled is off; set it to on and reload");
	pps_wbpf_detach();
	prev.time = 0;
	prev.pm_ok = false;
	prev.accept_ok = false;
	prev.bgw_ok = false;
	prev.children_ok = false;
}

static void
pps_worker_tick_or_idle(void)
{
	if (pps_enabled)
		pps_worker_tick();
	else
		pps_worker_set_disabled();
}

void
pps_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pps_wbpf_install_quit_handler();
	BackgroundWorkerUnblockSignals();

	memset(&prev, 0, sizeof(prev));
	prev.reset_generation = pg_atomic_read_u64(&pps_shared->reset_generation);
	pg_atomic_write_u32(&pps_shared->worker_pid, (uint32) MyProcPid);
	pg_atomic_fetch_add_u64(&pps_shared->worker_starts, 1);
	before_shmem_exit(pps_worker_on_exit, (Datum) 0);

	pps_loop_run(pps_worker_tick_or_idle);
}
