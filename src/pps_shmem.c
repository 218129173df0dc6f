/*-------------------------------------------------------------------------
 *
 * pps_shmem.c
 *	  Owner of pg_postmaster_stats' shared memory.
 *
 * Who writes, who reads, and how:
 *
 * - Cumulative counters are pg_atomic_uint64.  Any backend adds to the
 *	 connection counters and histogram (ClientAuthentication_hook) and to the
 *	 parallel-query counters (ExecutorEnd_hook) with fetch-add; the worker
 *	 adds the registry deltas (bgw_*, autovacuum_started_total) the same
 *	 way; readers load them with atomic reads.  pg_postmaster_stats_reset() writes zeros and bumps
 *	 reset_generation so the worker can tell a reset from a wrap.  No lock:
 *	 a counter read during a reset may be from either side of it.
 *
 * - The sample ring has exactly one writer, the sampler worker.  Each slot
 *	 carries a sequence counter (a seqlock): the writer makes it odd, writes
 *	 the sample, makes it even again, with write barriers in between.  A
 *	 reader copies the sample between two reads of the counter and retries
 *	 if the counter was odd or changed, so it never returns a torn row and
 *	 never makes the worker wait.  Each slot also records which sample it
 *	 holds, so a reader can tell that the ring wrapped past the row it
 *	 wanted; samples_written is published only after the slot is complete.
 *
 * - Source states use the same seqlock scheme (one counter for the whole
 *	 array); the sampler worker is the only writer after startup.
 *
 * - The latest snapshot probe result uses it too (probe_seq); its only
 *	 writer is the probe worker.  The snapshot histogram is atomics.
 *
 * - The replay source's latest reading too (replay_seq); its only writer
 *	 is the sampler worker.
 *
 * - ring_size is fixed at postmaster start (history_size is PGC_POSTMASTER).
 *
 * Nothing here takes an LWLock, so readers and the connection hook can
 * never block the worker and the worker can never block them.  A crash
 * restart of the server reinitializes this memory: counters and history
 * start again from zero (see README).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "pps_shmem.h"

PpsShared  *pps_shared = NULL;

extern int	pps_history_size;

/* how often a reader retries a slot being rewritten before giving up */
#define PPS_SEQLOCK_RETRIES 1000

static const char *const pps_source_names[PPS_NUM_SOURCES] = {
	[PPS_SRC_POSTMASTER] = "postmaster_process",
	[PPS_SRC_ACCEPT] = "accept_queue",
	[PPS_SRC_CONNSETUP] = "connection_setup",
	[PPS_SRC_CHILDREN] = "children",
	[PPS_SRC_BGWORKERS] = "bgworker_registry",
	[PPS_SRC_PARALLEL] = "parallel_query",
	[PPS_SRC_SNAPSHOT] = "snapshot_probe",
	[PPS_SRC_REPLAY] = "replay",
};

Size
pps_shmem_size(int history_size)
{
	return add_size(offsetof(PpsShared, ring),
					mul_size(sizeof(PpsSlot), history_size));
}

void
pps_shmem_request(void)
{
	RequestAddinShmemSpace(pps_shmem_size(pps_history_size));
}

void
pps_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pps_shared = ShmemInitStruct("pg_postmaster_stats",
								 pps_shmem_size(pps_history_size), &found);
	if (!found)
	{
		pg_atomic_init_u64(&pps_shared->connections_total, 0);
		pg_atomic_init_u64(&pps_shared->auth_failures_total, 0);
		pps_hist_init(&pps_shared->conn_setup);
		pg_atomic_init_u64(&pps_shared->parallel_queries_total, 0);
		pg_atomic_init_u64(&pps_shared->parallel_planned_total, 0);
		pg_atomic_init_u64(&pps_shared->parallel_launched_total, 0);
		pg_atomic_init_u64(&pps_shared->bgw_registrations_total, 0);
		pg_atomic_init_u64(&pps_shared->bgw_parallel_registered_total, 0);
		pg_atomic_init_u64(&pps_shared->bgw_parallel_terminated_total, 0);
		pg_atomic_init_u64(&pps_shared->autovacuum_started_total, 0);
		pg_atomic_init_u32(&pps_shared->probe_pid, 0);
		pg_atomic_init_u64(&pps_shared->probe_seq, 0);
		memset(&pps_shared->probe, 0, sizeof(pps_shared->probe));
		pps_hist_init(&pps_shared->snapshot_hist);
		pg_atomic_init_u64(&pps_shared->replay_seq, 0);
		memset(&pps_shared->replay, 0, sizeof(pps_shared->replay));
		pg_atomic_init_u64(&pps_shared->reset_generation, 0);
		pg_atomic_init_u64(&pps_shared->stats_reset,
						   (uint64) GetCurrentTimestamp());
		pg_atomic_init_u32(&pps_shared->worker_pid, 0);
		pg_atomic_init_u64(&pps_shared->worker_starts, 0);
		pg_atomic_init_u64(&pps_shared->sources_seq, 0);
		for (int i = 0; i < PPS_NUM_SOURCES; i++)
		{
			pps_shared->sources[i].active = false;
			strlcpy(pps_shared->sources[i].detail,
					"waiting for the sampler worker's first sample",
					PPS_DETAIL_LEN);
		}
		pps_shared->ring_size = pps_history_size;
		pg_atomic_init_u64(&pps_shared->samples_written, 0);
		for (int i = 0; i < pps_history_size; i++)
			pg_atomic_init_u64(&pps_shared->ring[i].seq, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called by the worker only. */
void
pps_ring_append(const PpsSample *sample)
{
	uint64		n = pg_atomic_read_u64(&pps_shared->samples_written);
	PpsSlot    *slot = &pps_shared->ring[n % pps_shared->ring_size];
	uint64		seq = pg_atomic_read_u64(&slot->seq);

	pg_atomic_write_u64(&slot->seq, seq + 1);
	pg_write_barrier();
	slot->index = n;
	memcpy(&slot->sample, sample, sizeof(PpsSample));
	pg_write_barrier();
	pg_atomic_write_u64(&slot->seq, seq + 2);
	pg_write_barrier();
	pg_atomic_write_u64(&pps_shared->samples_written, n + 1);
}

/* Index of the oldest sample still in the ring. */
uint64
pps_ring_oldest(void)
{
	uint64		n = pg_atomic_read_u64(&pps_shared->samples_written);

	return n > (uint64) pps_shared->ring_size ? n - pps_shared->ring_size : 0;
}

/*
 * Copy sample number "index" (0-based, counted since server start).  Returns
 * false if it was never written or has been overwritten meanwhile.
 */
bool
pps_ring_read(uint64 index, PpsSample *out)
{
	PpsSlot    *slot = &pps_shared->ring[index % pps_shared->ring_size];

	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		before = pg_atomic_read_u64(&slot->seq);
		uint64		after;
		uint64		held;

		if (before & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		held = slot->index;
		memcpy(out, &slot->sample, sizeof(PpsSample));
		pg_read_barrier();
		after = pg_atomic_read_u64(&slot->seq);
		if (before != after)
			continue;

		/* a never-written slot has seq 0; a reused one holds a newer sample */
		return before != 0 && held == index;
	}
	return false;
}

bool
pps_ring_latest(PpsSample *out)
{
	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		n = pg_atomic_read_u64(&pps_shared->samples_written);

		if (n == 0)
			return false;
		if (pps_ring_read(n - 1, out))
			return true;
	}
	return false;
}

/* Called by the worker only. */
void
pps_sources_set(PpsSource src, bool active, const char *fmt,...)
{
	char		detail[PPS_DETAIL_LEN];
	va_list		ap;
	uint64		seq;
	PpsSourceState *st = &pps_shared->sources[src];

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);

	/* most ticks change nothing; skip the write so readers never retry */
	if (st->active == active && strcmp(st->detail, detail) == 0)
		return;

	seq = pg_atomic_read_u64(&pps_shared->sources_seq);
	pg_atomic_write_u64(&pps_shared->sources_seq, seq + 1);
	pg_write_barrier();
	st->active = active;
	strlcpy(st->detail, detail, PPS_DETAIL_LEN);
	pg_write_barrier();
	pg_atomic_write_u64(&pps_shared->sources_seq, seq + 2);
}

void
pps_sources_read(PpsSourceState *out)
{
	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		before = pg_atomic_read_u64(&pps_shared->sources_seq);

		if (before & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		memcpy(out, pps_shared->sources, sizeof(pps_shared->sources));
		pg_read_barrier();
		if (pg_atomic_read_u64(&pps_shared->sources_seq) == before)
			return;
	}
	/* the worker rewrites states rarely; reaching this means it is stuck mid-write */
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("could not read a consistent copy of pg_postmaster_stats source states")));
}

/* Called by the probe worker only. */
void
pps_probe_publish(const PpsSnapshotProbe *probe)
{
	uint64		seq = pg_atomic_read_u64(&pps_shared->probe_seq);

	pg_atomic_write_u64(&pps_shared->probe_seq, seq + 1);
	pg_write_barrier();
	memcpy(&pps_shared->probe, probe, sizeof(PpsSnapshotProbe));
	pg_write_barrier();
	pg_atomic_write_u64(&pps_shared->probe_seq, seq + 2);
}

/* The latest probe result; false if there was none yet (or no stable copy). */
bool
pps_probe_read(PpsSnapshotProbe *out)
{
	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		before = pg_atomic_read_u64(&pps_shared->probe_seq);

		if (before & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		memcpy(out, &pps_shared->probe, sizeof(PpsSnapshotProbe));
		pg_read_barrier();
		if (pg_atomic_read_u64(&pps_shared->probe_seq) == before)
			return before != 0;
	}
	return false;
}

/* Called by the sampler worker only. */
void
pps_replay_publish(const PpsReplayState *state)
{
	uint64		seq = pg_atomic_read_u64(&pps_shared->replay_seq);

	pg_atomic_write_u64(&pps_shared->replay_seq, seq + 1);
	pg_write_barrier();
	memcpy(&pps_shared->replay, state, sizeof(PpsReplayState));
	pg_write_barrier();
	pg_atomic_write_u64(&pps_shared->replay_seq, seq + 2);
}

/* The latest replay reading; false if there was none yet (or no stable copy). */
bool
pps_replay_read_latest(PpsReplayState *out)
{
	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		before = pg_atomic_read_u64(&pps_shared->replay_seq);

		if (before & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		memcpy(out, &pps_shared->replay, sizeof(PpsReplayState));
		pg_read_barrier();
		if (pg_atomic_read_u64(&pps_shared->replay_seq) == before)
			return before != 0;
	}
	return false;
}

const char *
pps_source_name(PpsSource src)
{
	return pps_source_names[src];
}

void
pps_counters_reset(void)
{
	pg_atomic_write_u64(&pps_shared->connections_total, 0);
	pg_atomic_write_u64(&pps_shared->auth_failures_total, 0);
	pps_hist_zero(&pps_shared->conn_setup);
	pg_atomic_write_u64(&pps_shared->parallel_queries_total, 0);
	pg_atomic_write_u64(&pps_shared->parallel_planned_total, 0);
	pg_atomic_write_u64(&pps_shared->parallel_launched_total, 0);
	pg_atomic_write_u64(&pps_shared->bgw_registrations_total, 0);
	pg_atomic_write_u64(&pps_shared->bgw_parallel_registered_total, 0);
	pg_atomic_write_u64(&pps_shared->bgw_parallel_terminated_total, 0);
	pg_atomic_write_u64(&pps_shared->autovacuum_started_total, 0);
	pps_hist_zero(&pps_shared->snapshot_hist);
	pg_atomic_write_u64(&pps_shared->stats_reset,
						(uint64) GetCurrentTimestamp());
	pg_atomic_fetch_add_u64(&pps_shared->reset_generation, 1);
}

/* Every SQL entry point starts here. */
void
pps_require_loaded(void)
{
	if (pps_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_postmaster_stats must be loaded via shared_preload_libraries"),
				 errhint("Add pg_postmaster_stats to the shared_preload_libraries setting in postgresql.conf and restart the server.")));
}
