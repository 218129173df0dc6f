/*-------------------------------------------------------------------------
 *
 * source_replay.c
 *	  WAL replay on a standby, WAL generation and standbys on a primary.
 *
 * A standby replays all WAL in one process, the startup process, while the
 * primary generates it with many backends in parallel: past some write rate
 * the standby can never catch up, and the replay lag alone only says so
 * once it is too late.  So on a standby each sample records, besides the
 * received / flushed / replayed positions and the lag, the receive and
 * replay rates and how busy the startup process is (its on-CPU time from
 * /proc/<pid>/schedstat).  Replay capacity extrapolates the replay rate to
 * a fully busy startup process (rate / CPU fraction, only when the process
 * is at least PPS_REPLAY_CAPACITY_MIN_CPU_PCT busy); headroom is capacity
 * over the receive rate, and below 1 the standby cannot keep up with this
 * load.  The capacity assumes replay is CPU-bound, as in a primary whose
 * working set is cached; a startup process waiting for reads is off CPU, so
 * for I/O-bound replay the capacity is an upper bound (the recovery
 * prefetch counters show whether reads are being issued).
 *
 * On a primary each sample records the WAL generation rate (insert
 * position) and, from the cumulative statistics, WAL records and full-page
 * images per second.  Standbys' positions are read live, at query time, by
 * the SQL function (pps_replay_walsenders); the sampler only counts them.
 *
 * This file only reads and computes: pps_replay_read() takes a reading,
 * pps_replay_compute() turns two of them into a PpsReplayState.  The
 * sampler's side (pps_worker_replay.c) keeps the previous reading,
 * publishes the state in shared memory and reports the source's status.
 *
 * Everything read here is the server's own shared state under its own
 * spinlocks (WAL receiver, recovery control, each walsender) or atomics
 * (prefetch counters).  Lookups that could ERROR (attaching to shared
 * segments) run under PG_TRY: the sampler never fails because of this
 * source.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "replication/walsender.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "pps_compat.h"
#include "pps_try.h"
#include "source_children.h"
#include "source_replay.h"


/* where the startup process was last found in the backend status array */
static int	startup_slot_hint = -1;

/* /proc/<startup pid>/schedstat, kept open: pread() costs ~0.5 us */
static int	startup_fd = -1;
static int	startup_fd_pid = 0;
static char startup_err[PPS_REPLAY_ERR_LEN];

#ifdef PPS_HAVE_RECOVERY_PREFETCH
static PpsXLogPrefetchStats *prefetch_stats = NULL;
#endif
static bool prefetch_unavailable = false;
static char prefetch_err[PPS_REPLAY_ERR_LEN];

/*
 * Physical walsenders other than base backups, each copied under its
 * spinlock; fills at most max entries of out (which may be NULL) and
 * returns how many there are.
 */
int
pps_replay_walsenders(PpsWalSender *out, int max)
{
	int			n = 0;

	if (WalSndCtl == NULL)
		return 0;
	for (int i = 0; i < max_wal_senders; i++)
	{
		WalSnd	   *walsnd = &WalSndCtl->walsnds[i];
		PpsWalSender w;
		bool		kind_physical;

		SpinLockAcquire(&walsnd->mutex);
		w.pid = (int) walsnd->pid;
		w.state = (int) walsnd->state;
		w.sent = walsnd->sentPtr;
		w.write = walsnd->write;
		w.flush = walsnd->flush;
		w.apply = walsnd->apply;
		w.apply_lag_us = (int64) walsnd->applyLag;
		kind_physical = pps_walsnd_kind_physical(walsnd);
		SpinLockRelease(&walsnd->mutex);

		if (w.pid == 0 || w.state == WALSNDSTATE_BACKUP)
			continue;
		if (!pps_walsender_is_physical(kind_physical, w.pid))
			continue;
		if (out != NULL && n < max)
			out[n] = w;
		n++;
	}
	return n;
}

/* "<on-CPU ns> <run-queue wait ns> <timeslices>" */
static void
pps_replay_parse_schedstat(const char *buf, uint64 *ns, uint64 *wait_ns)
{
	char	   *end;

	*ns = strtoull(buf, &end, 10);
	*wait_ns = strtoull(end, NULL, 10);
}

/*
 * On-CPU nanoseconds of the startup process, from /proc/<pid>/schedstat
 * kept open.  The file stays bound to the process it was opened for, and
 * reading it fails with ESRCH once that process has exited: while reads
 * succeed, the pid is still the startup process (a process never changes
 * its backend type) and the backend status array need not be consulted.
 * Returns the pid (0: no startup process, -1: status array unreadable,
 * see startup_err) and sets *cpu_ok, *ns (on CPU) and *wait_ns (runnable
 * but waiting for a CPU: schedstat's run_delay).
 */
static int
pps_replay_startup_cpu(bool *cpu_ok, uint64 *ns, uint64 *wait_ns)
{
	char		buf[128];
	ssize_t		len;
	int			pid;

	*cpu_ok = false;
	if (startup_fd >= 0)
	{
		len = pread(startup_fd, buf, sizeof(buf) - 1, 0);
		if (len > 0)
		{
			buf[len] = '\0';
			pps_replay_parse_schedstat(buf, ns, wait_ns);
			*cpu_ok = true;
			return startup_fd_pid;
		}
		close(startup_fd);
		startup_fd = -1;
	}

	pid = pps_children_find_pid(B_STARTUP, &startup_slot_hint, startup_err, sizeof(startup_err));
	if (pid <= 0)
		return pid;

	snprintf(buf, sizeof(buf), "/proc/%d/schedstat", pid);
	startup_fd = open(buf, O_RDONLY | O_CLOEXEC);
	if (startup_fd < 0)
	{
		snprintf(startup_err, sizeof(startup_err), "could not open /proc/%d/schedstat: %m", pid);
		return pid;
	}
	startup_fd_pid = pid;
	len = pread(startup_fd, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
	{
		snprintf(startup_err, sizeof(startup_err), "could not read /proc/%d/schedstat: %m", pid);
		close(startup_fd);
		startup_fd = -1;
		return pid;
	}
	buf[len] = '\0';
	pps_replay_parse_schedstat(buf, ns, wait_ns);
	*cpu_ok = true;
	return pid;
}

#ifdef PPS_HAVE_RECOVERY_PREFETCH
/*
 * Attach to the prefetcher's counters once.  ShmemInitStruct ERRORs if the
 * size differs from ours; the message is kept and the attach not retried.
 */
static bool
pps_replay_attach_prefetch_segment(void *arg, char *err, size_t errlen)
{
	bool		found;
	PpsXLogPrefetchStats *p;

	p = ShmemInitStruct(PPS_PREFETCH_SEGMENT_NAME, sizeof(PpsXLogPrefetchStats), &found);
	if (found)
		prefetch_stats = p;
	else
		strlcpy(err, "the server has no \"" PPS_PREFETCH_SEGMENT_NAME "\" in shared memory", errlen);
	return found;
}

static void
pps_replay_attach_prefetch(void)
{
	pps_try(pps_replay_attach_prefetch_segment, NULL,
			"could not attach to \"" PPS_PREFETCH_SEGMENT_NAME "\"",
			prefetch_err, sizeof(prefetch_err));
	prefetch_unavailable = prefetch_stats == NULL;
}
#endif

static void
pps_replay_read_prefetch(PpsReplayReading *r)
{
#ifdef PPS_HAVE_RECOVERY_PREFETCH
	if (prefetch_stats == NULL && !prefetch_unavailable)
		pps_replay_attach_prefetch();
	if (prefetch_stats == NULL)
		return;
	r->prefetch_ok = true;
	r->prefetch = pg_atomic_read_u64(&prefetch_stats->prefetch);
	r->prefetch_hit = pg_atomic_read_u64(&prefetch_stats->hit);
	r->prefetch_skip_fpw = pg_atomic_read_u64(&prefetch_stats->skip_fpw);
	r->prefetch_wal_distance = prefetch_stats->wal_distance;
	r->prefetch_block_distance = prefetch_stats->block_distance;
	r->prefetch_io_depth = prefetch_stats->io_depth;
#else
	prefetch_unavailable = true;
	strlcpy(prefetch_err, "recovery prefetching arrived in PostgreSQL 15", sizeof(prefetch_err));
#endif
}

static void
pps_replay_read_standby(PpsReplayReading *r)
{
	WalRcvData *walrcv = WalRcv;

	/* replayed first: what was replayed had been received, so lag >= 0 */
	r->replayed = GetXLogReplayRecPtr(NULL);
	r->last_xact_time = GetLatestXTime();
	r->paused = GetRecoveryPauseState() != RECOVERY_NOT_PAUSED;

	SpinLockAcquire(&walrcv->mutex);
	r->flushed = walrcv->flushedUpto;
	r->walrcv_streaming = walrcv->walRcvState == WALRCV_STREAMING;
	SpinLockRelease(&walrcv->mutex);
	r->written = pg_atomic_read_u64(&walrcv->writtenUpto);

	r->startup_pid = pps_replay_startup_cpu(&r->startup_cpu_ok, &r->startup_ns,
											&r->startup_wait_ns);

	pps_replay_read_prefetch(r);
}

static void
pps_replay_read_primary(PpsReplayReading *r)
{
	/* promoted: the startup process has exited */
	if (startup_fd >= 0)
	{
		close(startup_fd);
		startup_fd = -1;
	}
	r->insert = GetXLogInsertRecPtr();
	r->wal_stats_ok = pps_wal_stats_read(&r->wal_records, &r->wal_fpi);
	r->standbys = pps_replay_walsenders(NULL, 0);
}

/* May ERROR; see pps_replay_read(). */
static void
pps_replay_read_server(PpsReplayReading *r)
{
	memset(r, 0, sizeof(*r));
	r->in_recovery = RecoveryInProgress();
	if (r->in_recovery)
		pps_replay_read_standby(r);
	else
		pps_replay_read_primary(r);
}

static bool
pps_replay_try_read(void *arg, char *err, size_t errlen)
{
	pps_replay_read_server((PpsReplayReading *) arg);
	return true;
}

/*
 * One reading of the server's state.  Never ERRORs: false, with the reason
 * in err, when a lookup did.
 */
bool
pps_replay_read(PpsReplayReading *r, char *err, size_t errlen)
{
	return pps_try(pps_replay_try_read, r, "could not read the replay state", err, errlen);
}

/* Why the startup process's CPU is unknown, when the reading says so. */
const char *
pps_replay_startup_error(void)
{
	return startup_err;
}

/* Why the recovery prefetcher's counters are unavailable. */
const char *
pps_replay_prefetch_error(void)
{
	return prefetch_err;
}

/* Per-second rate of a counter; one that went backwards was reset. */
static double
pps_replay_counter_rate(uint64 cur, uint64 before, double seconds)
{
	return (double) (cur >= before ? cur - before : cur) / seconds;
}

static void
pps_replay_compute_standby(const PpsReplayReading *cur, const PpsReplayReading *old,
						   double seconds, TimestampTz now, PpsReplayState *st)
{
	XLogRecPtr	received = Max(cur->written, cur->flushed);
	XLogRecPtr	old_received = old ? Max(old->written, old->flushed) : InvalidXLogRecPtr;

	/*
	 * A new WAL receiver zeroes "written" and restarts at a segment
	 * boundary, so the larger of the two is what has been received.
	 */
	st->received_lsn = received;
	st->flushed_lsn = cur->flushed;
	st->replayed_lsn = cur->replayed;
	st->last_xact_time = cur->last_xact_time;
	st->paused = cur->paused;
	st->startup_pid = Max(cur->startup_pid, 0);

	/* nothing streamed yet (or archive recovery only): lag unknown */
	if (received != InvalidXLogRecPtr)
	{
		st->lag_bytes = received > cur->replayed ? (int64) (received - cur->replayed) : 0;
		if (st->lag_bytes == 0)
			st->lag_seconds = 0;
		else if (cur->last_xact_time != 0)
			st->lag_seconds = Max(now - cur->last_xact_time, 0) / 1e6;
	}

	if (old != NULL)
	{
		if (cur->replayed >= old->replayed)
			st->replay_bytes_per_s = (cur->replayed - old->replayed) / seconds;
		if (old_received != InvalidXLogRecPtr && received >= old_received)
			st->receive_bytes_per_s = (received - old_received) / seconds;
		if (cur->startup_cpu_ok && old->startup_cpu_ok &&
			cur->startup_pid == old->startup_pid && cur->startup_ns >= old->startup_ns &&
			cur->startup_wait_ns >= old->startup_wait_ns)
		{
			st->startup_cpu_pct = 100.0 * (cur->startup_ns - old->startup_ns) / 1e9 / seconds;
			st->startup_cpu_wait_pct =
				100.0 * (cur->startup_wait_ns - old->startup_wait_ns) / 1e9 / seconds;
		}
		if (cur->prefetch_ok && old->prefetch_ok)
		{
			st->prefetch_per_s = pps_replay_counter_rate(cur->prefetch, old->prefetch, seconds);
			st->prefetch_hit_per_s = pps_replay_counter_rate(cur->prefetch_hit, old->prefetch_hit, seconds);
			st->prefetch_skip_fpw_per_s = pps_replay_counter_rate(cur->prefetch_skip_fpw,
																  old->prefetch_skip_fpw, seconds);
		}
	}
	st->prefetch_ok = cur->prefetch_ok;
	st->prefetch_wal_distance = cur->prefetch_wal_distance;
	st->prefetch_block_distance = cur->prefetch_block_distance;
	st->prefetch_io_depth = cur->prefetch_io_depth;

	if (!isnan(st->replay_bytes_per_s) && !isnan(st->startup_cpu_pct) &&
		st->startup_cpu_pct >= PPS_REPLAY_CAPACITY_MIN_CPU_PCT)
		st->capacity_bytes_per_s = st->replay_bytes_per_s * 100.0 / st->startup_cpu_pct;
	if (!isnan(st->capacity_bytes_per_s) && !isnan(st->receive_bytes_per_s) &&
		st->receive_bytes_per_s > 0)
		st->headroom = st->capacity_bytes_per_s / st->receive_bytes_per_s;

	/*
	 * Caught up: nothing pending, or everything that was pending one sample
	 * ago has been replayed (under steady load a few kB are always in
	 * flight).  Otherwise the rates say whether the backlog shrinks.
	 */
	if (cur->paused)
		st->state = PPS_REPLAY_PAUSED;
	else if (st->lag_bytes < 0)
		st->state = PPS_REPLAY_UNKNOWN;
	else if (st->lag_bytes == 0)
		st->state = PPS_REPLAY_CAUGHT_UP;
	else if (isnan(st->replay_bytes_per_s) || isnan(st->receive_bytes_per_s))
		st->state = PPS_REPLAY_UNKNOWN;
	else if (cur->replayed >= old_received)
		st->state = PPS_REPLAY_CAUGHT_UP;
	else if (st->replay_bytes_per_s > st->receive_bytes_per_s)
		st->state = PPS_REPLAY_CATCHING_UP;
	else
		st->state = PPS_REPLAY_FALLING_BEHIND;

	if (st->state == PPS_REPLAY_CAUGHT_UP)
		st->catchup_seconds = 0;
	else if (st->state == PPS_REPLAY_CATCHING_UP)
		st->catchup_seconds = st->lag_bytes /
			(st->replay_bytes_per_s - st->receive_bytes_per_s);
}

static void
pps_replay_compute_primary(const PpsReplayReading *cur, const PpsReplayReading *old,
						   double seconds, PpsReplayState *st)
{
	st->insert_lsn = cur->insert;
	if (old == NULL)
		return;
	if (cur->insert >= old->insert)
		st->wal_generated_bytes_per_s = (cur->insert - old->insert) / seconds;
	if (cur->wal_stats_ok && old->wal_stats_ok)
	{
		st->wal_records_per_s = pps_replay_counter_rate(cur->wal_records, old->wal_records, seconds);
		st->wal_fpi_per_s = pps_replay_counter_rate(cur->wal_fpi, old->wal_fpi, seconds);
	}
}

/*
 * The state published for the replay view, from the reading cur and the one
 * taken "seconds" earlier; old is NULL when there is none to compute rates
 * from.
 */
void
pps_replay_compute(const PpsReplayReading *cur, const PpsReplayReading *old,
				   double seconds, TimestampTz now, PpsReplayState *st)
{
	double		nan = get_float8_nan();

	memset(st, 0, sizeof(*st));
	st->time = now;
	st->in_recovery = cur->in_recovery;
	st->lag_bytes = -1;
	st->lag_seconds = st->receive_bytes_per_s = st->replay_bytes_per_s = nan;
	st->startup_cpu_pct = st->startup_cpu_wait_pct = nan;
	st->capacity_bytes_per_s = st->headroom = nan;
	st->catchup_seconds = nan;
	st->prefetch_per_s = st->prefetch_hit_per_s = st->prefetch_skip_fpw_per_s = nan;
	st->wal_generated_bytes_per_s = st->wal_records_per_s = st->wal_fpi_per_s = nan;

	/* a promotion in between: the two readings measure different things */
	if (old != NULL && (seconds <= 0 || old->in_recovery != cur->in_recovery))
		old = NULL;

	if (cur->in_recovery)
		pps_replay_compute_standby(cur, old, seconds, now, st);
	else
		pps_replay_compute_primary(cur, old, seconds, st);
}

/* The state's name in pg_postmaster_stats_replay and the history; NULL: unknown. */
static const char *const pps_replay_state_names[] = {
	[PPS_REPLAY_UNKNOWN] = NULL,
	[PPS_REPLAY_CAUGHT_UP] = "caught_up",
	[PPS_REPLAY_CATCHING_UP] = "catching_up",
	[PPS_REPLAY_FALLING_BEHIND] = "falling_behind",
	[PPS_REPLAY_PAUSED] = "paused",
};

const char *
pps_replay_state_name(int state)
{
	return state >= 0 && state <= PPS_REPLAY_PAUSED ? pps_replay_state_names[state] : NULL;
}
