/*-------------------------------------------------------------------------
 *
 * pps_shmem.c
 *	  Owner of pg_postmaster_stats' shared memory.
 *
 * Who writes, who reads, and how:
 *
 * - magic, layout, ring_size and the record of a discarded crash-restart
 *	 copy (discarded_why, discarded_at) are written by the postmaster only,
 *	 while it initializes the segment, before it starts any child.
 *
 * - Cumulative counters are pg_atomic_uint64.  Any backend adds to the
 *	 connection counters and histogram (ClientAuthentication_hook) and to the
 *	 parallel-query counters (ExecutorEnd_hook) with fetch-add; the worker
 *	 adds the registry deltas (bgw_*, autovacuum_started_total) the same
 *	 way; readers load them with atomic reads.  pg_postmaster_stats_reset()
 *	 writes zeros and bumps reset_generation so the worker can tell a reset
 *	 from a wrap.  No lock: a counter read during a reset may be from either
 *	 side of it.
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
 * - The latest snapshot probe result and the latest limits use it too
 *	 (probe_seq, limits_seq); their only writer is the probe worker.  The
 *	 snapshot histogram is atomics.
 *
 * - The replay source's latest reading too (replay_seq); its only writer
 *	 is the sampler worker.
 *
 * - Single writers are identified by the pid they publish (worker_pid,
 *	 probe_pid); assert-enabled builds check it in every single-writer
 *	 function below.
 *
 * - The ring is indexed modulo every process's own history_size
 *	 (PGC_POSTMASTER, so the same in all of them), never modulo the
 *	 ring_size stored here: a corrupt value there cannot send a reader or
 *	 the writer out of the segment.
 *
 * Nothing here takes an LWLock, so readers and the connection hook can
 * never block the worker and the worker can never block them.
 *
 * Crash restarts: when a backend crashes the postmaster reinitializes all
 * shared memory.  Our segment is worth keeping (counters, histograms, the
 * history that shows what led to the crash), so the postmaster copies it
 * into its private memory on the way down and, after checking it, back
 * into the new segment.  A crash restart exists because shared memory may
 * be corrupt: the postmaster never uses a size, offset, count or pointer
 * read from the segment, and discards a copy that fails any check, with a
 * LOG line and a note in pg_postmaster_stats_sources.  The rules and the
 * checks are in pps_shmem_save.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/float.h"
#include "utils/timestamp.h"

#include "pps_guc.h"
#include "pps_seqlock.h"
#include "pps_shmem_attrib.h"
#include "pps_shmem.h"
#include "pps_shmem_save.h"

PpsShared  *pps_shared = NULL;

/*
 * The single-writer rules above, checked in assert-enabled builds: what only
 * the sampler (or only the probe worker) may write is written by the process
 * that registered itself as that worker.
 */
#define PPS_ASSERT_SAMPLER() \
	Assert(pg_atomic_read_u32(&pps_shared->worker_pid) == (uint32) MyProcPid)
#define PPS_ASSERT_PROBE() \
	Assert(pg_atomic_read_u32(&pps_shared->probe_pid) == (uint32) MyProcPid)

static const char *const pps_source_names[PPS_NUM_SOURCES] = {
	[PPS_SRC_POSTMASTER] = "postmaster_process",
	[PPS_SRC_ACCEPT] = "accept_queue",
	[PPS_SRC_CONNSETUP] = "connection_setup",
	[PPS_SRC_CHILDREN] = "children",
	[PPS_SRC_BGWORKERS] = "bgworker_registry",
	[PPS_SRC_PARALLEL] = "parallel_query",
	[PPS_SRC_SNAPSHOT] = "snapshot_probe",
	[PPS_SRC_LIMITS] = "limits",
	[PPS_SRC_EBPF] = "ebpf",
	[PPS_SRC_REPLAY] = "replay",
	[PPS_SRC_CGROUP_CPU] = "cgroup_cpu",
};

#define PPS_U64(f) {#f, PPS_COUNTER_U64, offsetof(PpsShared, f), 1}
#define PPS_U64_ARRAY(f) \
	{#f, PPS_COUNTER_U64, offsetof(PpsShared, f), lengthof(((PpsShared *) 0)->f)}
#define PPS_HIST(f) {#f, PPS_COUNTER_HIST, offsetof(PpsShared, f), 1}

/* In the order of PpsShared; see pps_shmem.h. */
const PpsCounterField pps_shmem_counters[] = {
	PPS_U64(connections_total),
	PPS_U64(auth_failures_total),
	PPS_HIST(conn_setup),
	PPS_U64(parallel_queries_total),
	PPS_U64(parallel_planned_total),
	PPS_U64(parallel_launched_total),
	PPS_U64(bgw_registrations_total),
	PPS_U64(bgw_parallel_registered_total),
	PPS_U64(bgw_parallel_terminated_total),
	PPS_U64(autovacuum_started_total),
	PPS_HIST(snapshot_hist),
	PPS_U64(bpf_forks_total),
	PPS_U64(bpf_reaps_total),
	PPS_U64_ARRAY(bpf_exits_total),
	PPS_U64_ARRAY(bpf_exits_unseen_total),
	PPS_U64_ARRAY(bpf_abnormal_total),
	PPS_U64_ARRAY(bpf_signaled_total),
	PPS_U64_ARRAY(bpf_cpu_samples_total),
	PPS_U64(bpf_server_samples_total),
	PPS_U64(bpf_snapshot_samples_total),
	PPS_HIST(fork_hist),
	PPS_HIST(reap_hist),
	PPS_HIST(lifetime_hist),
	PPS_U64(ovh.sampler_ticks),
	PPS_U64(ovh.sampler_cpu_ns),
	PPS_U64_ARRAY(ovh.sampler_src_ns),
	PPS_U64(ovh.probe_ticks),
	PPS_U64(ovh.probe_cpu_ns),
	PPS_U64_ARRAY(ovh.probe_src_ns),
	PPS_U64_ARRAY(ovh.hook_calls),
	PPS_U64_ARRAY(ovh.hook_timed),
	PPS_U64_ARRAY(ovh.hook_timed_ns),
	PPS_U64(ovh.sql_calls),
	PPS_U64(ovh.sql_ns),
	PPS_U64_ARRAY(ovh.bpf_runs),
	PPS_U64_ARRAY(ovh.bpf_ns),
};
const int	pps_shmem_ncounters = lengthof(pps_shmem_counters);

/*
 * Zero every counter of the table: init for a segment no process uses yet
 * (where atomics are simulated, init also sets up their locks), else plain
 * atomic writes.
 */
static void
pps_shmem_zero_counters(PpsShared *s, bool init)
{
	for (int i = 0; i < pps_shmem_ncounters; i++)
	{
		const PpsCounterField *f = &pps_shmem_counters[i];
		char	   *field = (char *) s + f->offset;

		if (f->kind == PPS_COUNTER_HIST && init)
			pps_hist_init((PpsHistogram *) field);
		else if (f->kind == PPS_COUNTER_HIST)
			pps_hist_zero((PpsHistogram *) field);
		else
			for (int k = 0; k < f->n; k++)
			{
				pg_atomic_uint64 *c = (pg_atomic_uint64 *) field + k;

				if (init)
					pg_atomic_init_u64(c, 0);
				else
					pg_atomic_write_u64(c, 0);
			}
	}
}

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
	pps_attrib_request();
}

/*
 * What a reader of one segment assumes about its layout, written at
 * initialization and checked before a saved copy is restored.  Bump the
 * revision when PpsShared changes in a way these sizes do not show.
 */
#define PPS_SHMEM_LAYOUT_REVISION 1

uint64
pps_shmem_layout(void)
{
	StaticAssertStmt(sizeof(PpsSlot) < 0x10000, "PpsSlot too large for the layout word");
	StaticAssertStmt(offsetof(PpsShared, ring) < UINT64CONST(0x100000000),
					 "PpsShared too large for the layout word");
	return ((uint64) PPS_SHMEM_LAYOUT_REVISION << 48) |
		((uint64) offsetof(PpsShared, ring) << 16) | (uint64) sizeof(PpsSlot);
}

/*
 * What describes processes, not history: it starts empty at every start and
 * crash restart (their writers rewrite it within a sample interval).
 */
void
pps_shmem_init_transient(PpsShared *s)
{
	pg_atomic_init_u32(&s->worker_pid, 0);
	pg_atomic_init_u32(&s->probe_pid, 0);
	pg_atomic_init_u64(&s->probe_seq, 0);
	memset(&s->probe, 0, sizeof(s->probe));
	pg_atomic_init_u64(&s->limits_seq, 0);
	memset(&s->limits, 0, sizeof(s->limits));
	pg_atomic_init_u64(&s->replay_seq, 0);
	memset(&s->replay, 0, sizeof(s->replay));
	pg_atomic_init_u64(&s->ovh_seq, 0);
	memset(&s->ovh_window, 0, sizeof(s->ovh_window));
	pg_atomic_init_u64(&s->sources_seq, 0);
	for (int i = 0; i < PPS_NUM_SOURCES; i++)
	{
		s->sources[i].active = false;
		strlcpy(s->sources[i].detail,
				"waiting for the sampler worker's first sample",
				PPS_DETAIL_LEN);
	}
}

static void
pps_shmem_init_fresh(PpsShared *s)
{
	s->magic = PPS_SHMEM_MAGIC;
	s->layout = pps_shmem_layout();
	s->discarded_why = PPS_SAVE_USABLE;
	s->discarded_at = 0;
	pps_shmem_zero_counters(s, true);
	pg_atomic_init_u64(&s->reset_generation, 0);
	pg_atomic_init_u64(&s->stats_reset, (uint64) GetCurrentTimestamp());
	pg_atomic_init_u64(&s->worker_starts, 0);
	pps_shmem_init_transient(s);
	s->ring_size = pps_history_size;
	pg_atomic_init_u64(&s->samples_written, 0);
	for (int i = 0; i < pps_history_size; i++)
		pg_atomic_init_u64(&s->ring[i].seq, 0);
}

/*
 * The postmaster's CPU time per fork inside clone(), estimated from the
 * 99 Hz on-CPU samples: its CPU over the interval (schedstat) times the
 * share of its samples that found it in clone(), over the forks counted.
 * Needs no program on the system calls, so it is there with
 * pg_postmaster_stats.ebpf_syscalls = off, where fork_avg_seconds is not.
 * A CPU time: a clone() that waits (for a CPU, for memory) takes longer
 * than this.  NaN when any part is unknown or there was no fork.
 */
double
pps_sample_fork_cpu_seconds(const PpsSample *s)
{
	double		share = s->cpu_share_pct[PPS_BPF_CPU_FORK];

	if (!s->has_rates ||
		(s->valid & PPS_SRC_BIT(PPS_SRC_POSTMASTER)) == 0 ||
		(s->valid & PPS_SRC_BIT(PPS_SRC_EBPF)) == 0 ||
		isnan(s->pm_cpu_pct) || isnan(share) || !(s->forks_per_s > 0))
		return get_float8_nan();
	return s->pm_cpu_pct / 100.0 * share / 100.0 / s->forks_per_s;
}

void
pps_shmem_startup(void)
{
	bool		found;
	bool		restored = false;
	PpsSaveVerdict verdict = PPS_SAVE_USABLE;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pps_shared = ShmemInitStruct("pg_postmaster_stats",
								 pps_shmem_size(pps_history_size), &found);
	if (!IsUnderPostmaster)
		on_shmem_exit(pps_shmem_save, (Datum) 0);
	if (!found)
		verdict = pps_shmem_restore(&restored);
	if (restored)
		ereport(LOG,
				(errmsg("pg_postmaster_stats kept its counters and history across the crash restart")));
	else if (!found)
	{
		pps_shmem_init_fresh(pps_shared);
		if (verdict != PPS_SAVE_USABLE)
		{
			pps_shared->discarded_why = verdict;
			pps_shared->discarded_at = GetCurrentTimestamp();
		}
	}
	pps_attrib_startup();
	LWLockRelease(AddinShmemInitLock);
}

/* Called by the sampler worker only. */
void
pps_shmem_ring_append(const PpsSample *sample)
{
	uint64		n = pg_atomic_read_u64(&pps_shared->samples_written);
	PpsSlot    *slot = &pps_shared->ring[n % (uint64) pps_history_size];

	PPS_ASSERT_SAMPLER();

	pps_seqlock_write_begin(&slot->seq);
	slot->data.index = n;
	memcpy(&slot->data.sample, sample, sizeof(PpsSample));
	pps_seqlock_write_end(&slot->seq);
	pg_write_barrier();
	pg_atomic_write_u64(&pps_shared->samples_written, n + 1);
}

/* Index of the oldest sample still in the ring. */
uint64
pps_shmem_ring_oldest(void)
{
	uint64		n = pg_atomic_read_u64(&pps_shared->samples_written);

	return n > (uint64) pps_history_size ? n - (uint64) pps_history_size : 0;
}

/*
 * Copy sample number "index" (0-based, counted since server start).  Returns
 * false if it was never written or has been overwritten meanwhile.
 */
bool
pps_shmem_ring_read(uint64 index, PpsSample *out)
{
	PpsSlot    *slot = &pps_shared->ring[index % (uint64) pps_history_size];
	PpsSlotData data;
	uint64		seen = pps_seqlock_read(&slot->seq, &data, &slot->data, sizeof(data));

	/* never written (0), unstable, or reused for a newer sample */
	if (seen == 0 || seen == PG_UINT64_MAX || data.index != index)
		return false;
	memcpy(out, &data.sample, sizeof(PpsSample));
	return true;
}

bool
pps_shmem_ring_latest(PpsSample *out)
{
	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		n = pg_atomic_read_u64(&pps_shared->samples_written);

		if (n == 0)
			return false;
		if (pps_shmem_ring_read(n - 1, out))
			return true;
	}
	return false;
}

/* Called by the sampler worker only. */
void
pps_shmem_sources_set(PpsSource src, bool active, const char *fmt,...)
{
	char		detail[PPS_DETAIL_LEN];
	va_list		ap;
	PpsSourceState *st = &pps_shared->sources[src];

	PPS_ASSERT_SAMPLER();
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);

	/* most ticks change nothing; skip the write so readers never retry */
	if (st->active == active && strcmp(st->detail, detail) == 0)
		return;

	pps_seqlock_write_begin(&pps_shared->sources_seq);
	st->active = active;
	strlcpy(st->detail, detail, PPS_DETAIL_LEN);
	pps_seqlock_write_end(&pps_shared->sources_seq);
}

void
pps_shmem_sources_read(PpsSourceState *out)
{
	if (pps_seqlock_read(&pps_shared->sources_seq, out, pps_shared->sources,
						 sizeof(pps_shared->sources)) == PG_UINT64_MAX)
		/* the worker rewrites states rarely: reaching this means it is stuck mid-write */
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not read a consistent copy of pg_postmaster_stats source states")));
}

/* Called by the probe worker only. */
void
pps_shmem_probe_publish(const PpsSnapshotProbe *probe)
{
	PPS_ASSERT_PROBE();
	pps_seqlock_write_begin(&pps_shared->probe_seq);
	memcpy(&pps_shared->probe, probe, sizeof(PpsSnapshotProbe));
	pps_seqlock_write_end(&pps_shared->probe_seq);
}

/* The latest probe result; false if there was none yet (or no stable copy). */
bool
pps_shmem_probe_read(PpsSnapshotProbe *out)
{
	uint64		seen = pps_seqlock_read(&pps_shared->probe_seq, out, &pps_shared->probe,
										sizeof(PpsSnapshotProbe));

	return seen != 0 && seen != PG_UINT64_MAX;
}

/* Called by the probe worker only. */
void
pps_shmem_limits_publish(const PpsLimitsReading *r, const PpsLimitsSummary *sum, bool slow)
{
	PpsLimitsSummary *dst = &pps_shared->limits.summary;
	double		cost_us = slow ? sum->slow_cost_us : sum->cost_us;

	PPS_ASSERT_PROBE();
	pps_seqlock_write_begin(&pps_shared->limits_seq);
	memcpy(&pps_shared->limits.reading, r, sizeof(PpsLimitsReading));
	dst->time = GetCurrentTimestamp();
	if (slow)
		dst->slow_cost_us = cost_us;
	else
		dst->cost_us = cost_us;
	dst->nlimits = sum->nlimits;
	dst->nmeasured = sum->nmeasured;
	dst->min_index = sum->min_index;
	dst->min_headroom_pct = sum->min_headroom_pct;
	pps_seqlock_write_end(&pps_shared->limits_seq);
}

bool
pps_shmem_limits_read(PpsLimitsReading *out, TimestampTz *time,
					  double *cost_us, double *slow_cost_us)
{
	PpsLimitsShared copy;
	uint64		seen = pps_seqlock_read(&pps_shared->limits_seq, &copy,
										&pps_shared->limits, sizeof(copy));

	if (seen == 0 || seen == PG_UINT64_MAX)
		return false;
	memcpy(out, &copy.reading, sizeof(PpsLimitsReading));
	*time = copy.summary.time;
	*cost_us = copy.summary.cost_us;
	*slow_cost_us = copy.summary.slow_cost_us;
	return true;
}

/* Only the summary at the start of the limits: what the sampler needs. */
bool
pps_shmem_limits_summary_read(PpsLimitsSummary *out)
{
	uint64		seen = pps_seqlock_read(&pps_shared->limits_seq, out,
										&pps_shared->limits, sizeof(PpsLimitsSummary));

	StaticAssertStmt(offsetof(PpsLimitsShared, summary) == 0,
					 "the summary must come first in PpsLimitsShared");
	return seen != 0 && seen != PG_UINT64_MAX;
}

/* Called by the sampler worker only. */
void
pps_shmem_replay_publish(const PpsReplayState *state)
{
	PPS_ASSERT_SAMPLER();
	pps_seqlock_write_begin(&pps_shared->replay_seq);
	memcpy(&pps_shared->replay, state, sizeof(PpsReplayState));
	pps_seqlock_write_end(&pps_shared->replay_seq);
}

/* The latest replay reading; false if there was none yet (or no stable copy). */
bool
pps_shmem_replay_read(PpsReplayState *out)
{
	uint64		seen = pps_seqlock_read(&pps_shared->replay_seq, out, &pps_shared->replay,
										sizeof(PpsReplayState));

	return seen != 0 && seen != PG_UINT64_MAX;
}

const char *
pps_shmem_source_name(PpsSource src)
{
	return pps_source_names[src];
}

void
pps_shmem_counters_reset(void)
{
	pps_shmem_zero_counters(pps_shared, false);
	pg_atomic_write_u64(&pps_shared->stats_reset,
						(uint64) GetCurrentTimestamp());
	pg_atomic_fetch_add_u64(&pps_shared->reset_generation, 1);
}

/* Every SQL entry point starts here. */
void
pps_shmem_require_loaded(void)
{
	if (pps_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_postmaster_stats must be loaded via shared_preload_libraries"),
				 errhint("Add pg_postmaster_stats to the shared_preload_libraries setting in postgresql.conf and restart the server.")));
}
