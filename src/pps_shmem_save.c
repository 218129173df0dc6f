/*-------------------------------------------------------------------------
 *
 * pps_shmem_save.c
 *	  Carrying pg_postmaster_stats' segment across a crash restart, without
 *	  trusting it.
 *
 * A crash restart exists because shared memory may be corrupt, so the
 * postmaster never uses a size, offset, count or pointer found in the
 * segment:
 *
 * - Saving (an on_shmem_exit callback, run while the old segment is still
 *	 attached) copies as many bytes as the postmaster's own
 *	 pg_postmaster_stats.history_size gives.  That setting is
 *	 PGC_POSTMASTER, so this is exactly what it allocated.
 *
 * - Checking reads only the postmaster's private copy, only fixed fields at
 *	 fixed offsets, and loops only over bounds of its own (the setting, the
 *	 histogram size); what the copy says is only compared, never used to
 *	 address memory.  The copy must have:
 *	   the magic number and the layout version written at initialization;
 *	   ring_size equal to history_size;
 *	   exactly the ring its single writer leaves behind.  With n =
 *	   samples_written and R = history_size, slot i has been written w(i)
 *	   times (the samples k < n with k mod R = i), so its seqlock is
 *	   2 w(i) and it holds sample i + (w(i) - 1) R.  Slot n mod R, the only
 *	   one the sampler can have been killed writing, may also be at
 *	   2 w + 1 (killed mid-write: the row is closed and marked unreadable)
 *	   or at 2 w + 2 holding sample n (killed after the row, before
 *	   counting it: it is counted).  A row marked unreadable by an earlier
 *	   restore stays accepted.  One slot out of line is named; several mean
 *	   samples_written is wrong;
 *	   histogram bucket counts below 2^62, far above any real count and far
 *	   below garbage (sums are not checked: a backend killed between its two
 *	   fetch-adds leaves them legitimately out of step with the counts);
 *	   a valid record of the last discard.
 *
 * - Restoring copies the checked copy into the new segment, then
 *	 re-initializes what describes processes that no longer exist: worker
 *	 pids, source states, the probe worker's latest snapshot probe and
 *	 limits, the replay source's latest reading.  Their writers rewrite them
 *	 within a sample interval, and none of them is read from the copy, so
 *	 torn or corrupt values there cannot reach a reader.
 *
 * - When a check fails, the copy is discarded with a LOG line naming the
 *	 field, its value and the expected one; the segment starts from zero
 *	 and records why and when, which pg_postmaster_stats_sources shows.
 *
 * Where 64-bit atomics are simulated, each embeds a semaphore, so a copy is
 * not plain values: nothing is saved and a crash restart starts from zero.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/timestamp.h"

#include "pps_guc.h"
#include "pps_shmem.h"
#include "pps_shmem_save.h"

/* far above any count a server reaches, far below garbage such as ~0 */
#define PPS_PLAUSIBLE_MAX (UINT64CONST(1) << 62)

/* the postmaster's private copy of the segment during a crash restart */
static PpsShared *pps_saved = NULL;
static bool pps_save_failed = false;

/* completes "the copy ... was discarded because " */
static const char *const pps_verdict_text[PPS_SAVE_NUM_VERDICTS] = {
	[PPS_SAVE_USABLE] = "it was usable",
	[PPS_SAVE_NO_MEMORY] = "the postmaster had no memory for it",
	[PPS_SAVE_MAGIC] = "its magic number was wrong",
	[PPS_SAVE_LAYOUT] = "its layout version was wrong",
	[PPS_SAVE_RING_SIZE] = "its ring_size did not match pg_postmaster_stats.history_size",
	[PPS_SAVE_SAMPLES_WRITTEN] = "its samples_written did not match the ring",
	[PPS_SAVE_SLOT_SEQ] = "a ring slot's sequence counter was inconsistent",
	[PPS_SAVE_SLOT_INDEX] = "a ring slot's sample number was inconsistent",
	[PPS_SAVE_HISTOGRAM] = "a histogram count was implausible",
	[PPS_SAVE_DISCARD_NOTE] = "its record of an earlier discard was invalid",
};

/* In the postmaster, as shared memory goes away: keep a private copy. */
void
pps_shmem_save(int code, Datum arg)
{
	Size		size = pps_shmem_size(pps_history_size);

	Assert(!IsUnderPostmaster);
#ifdef PG_HAVE_ATOMIC_U64_SIMULATION
	/* simulated 64-bit atomics embed a lock: a copy would not be values */
	pps_shared = NULL;
	return;
#endif
	if (pps_shared == NULL)
		return;
	free(pps_saved);
	pps_saved = malloc(size);
	pps_save_failed = pps_saved == NULL;
	if (pps_saved != NULL)
		memcpy(pps_saved, pps_shared, size);
	pps_shared = NULL;
}

/* How many of the samples 0 .. n-1 went into slot i of a ring of nslots. */
static inline uint64
pps_slot_writes(uint64 n, uint64 i, uint64 nslots)
{
	return n > i ? (n - 1 - i) / nslots + 1 : 0;
}

static PpsSaveVerdict pps_reject(PpsSaveVerdict v, char *why, size_t len,
								 const char *fmt,...) pg_attribute_printf(4, 5);

static PpsSaveVerdict
pps_reject(PpsSaveVerdict v, char *why, size_t len, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return v;
}

/* Is slot i's seqlock what the sampler leaves behind after n samples? */
static bool
pps_slot_seq_ok(uint64 seq, uint64 n, uint64 i, uint64 nslots)
{
	uint64		w = pps_slot_writes(n, i, nslots);

	if (seq == 2 * w)
		return true;
	return i == n % nslots && (seq == 2 * w + 1 || seq == 2 * w + 2);
}

static PpsSaveVerdict
pps_check_ring(PpsShared *c, char *why, size_t len)
{
	uint64		nslots = (uint64) pps_history_size;
	uint64		n = pg_atomic_read_u64(&c->samples_written);
	uint64		nbad = 0;
	uint64		bad = 0;

	if (n >= PPS_PLAUSIBLE_MAX)
		return pps_reject(PPS_SAVE_SAMPLES_WRITTEN, why, len,
						  "samples_written is %llu, beyond any plausible count",
						  (unsigned long long) n);
	for (uint64 i = 0; i < nslots; i++)
	{
		if (!pps_slot_seq_ok(pg_atomic_read_u64(&c->ring[i].seq), n, i, nslots))
		{
			if (nbad++ == 0)
				bad = i;
		}
	}
	if (nbad > 1)
		return pps_reject(PPS_SAVE_SAMPLES_WRITTEN, why, len,
						  "samples_written is %llu, but the sequence counters of %llu of the %llu ring slots disagree with it",
						  (unsigned long long) n, (unsigned long long) nbad,
						  (unsigned long long) nslots);
	if (nbad == 1)
		return pps_reject(PPS_SAVE_SLOT_SEQ, why, len,
						  "ring[%llu].seq is %llu, expected %llu for samples_written %llu",
						  (unsigned long long) bad,
						  (unsigned long long) pg_atomic_read_u64(&c->ring[bad].seq),
						  (unsigned long long) (2 * pps_slot_writes(n, bad, nslots)),
						  (unsigned long long) n);

	for (uint64 i = 0; i < nslots; i++)
	{
		uint64		w = pps_slot_writes(n, i, nslots);
		uint64		seq = pg_atomic_read_u64(&c->ring[i].seq);
		uint64		index = c->ring[i].data.index;
		uint64		want;

		/* never written, torn (closed on restore), or closed earlier */
		if (seq == 0 || seq == 2 * w + 1 || index == PG_UINT64_MAX)
			continue;
		want = seq == 2 * w + 2 ? n : i + (w - 1) * nslots;
		if (index != want)
			return pps_reject(PPS_SAVE_SLOT_INDEX, why, len,
							  "ring[%llu].index is %llu, expected %llu",
							  (unsigned long long) i, (unsigned long long) index,
							  (unsigned long long) want);
	}
	return PPS_SAVE_USABLE;
}

static PpsSaveVerdict
pps_check_histograms(PpsShared *c, char *why, size_t len)
{
	for (int i = 0; i < pps_shmem_ncounters; i++)
	{
		const PpsCounterField *f = &pps_shmem_counters[i];
		PpsHistogram *hist = (PpsHistogram *) ((char *) c + f->offset);

		if (f->kind != PPS_COUNTER_HIST)
			continue;
		for (int k = 0; k < PPS_HIST_BUCKETS; k++)
		{
			uint64		v = pg_atomic_read_u64(&hist->bucket[k]);

			if (v >= PPS_PLAUSIBLE_MAX)
				return pps_reject(PPS_SAVE_HISTOGRAM, why, len,
								  "%s.bucket[%d] is %llu, beyond any plausible count",
								  f->name, k, (unsigned long long) v);
		}
	}
	return PPS_SAVE_USABLE;
}

/* Everything the restore keeps; see the file header. */
static PpsSaveVerdict
pps_check_saved(PpsShared *c, char *why, size_t len)
{
	PpsSaveVerdict v;

	if (c->magic != PPS_SHMEM_MAGIC)
		return pps_reject(PPS_SAVE_MAGIC, why, len,
						  "magic is 0x%016llx, expected 0x%016llx",
						  (unsigned long long) c->magic,
						  (unsigned long long) PPS_SHMEM_MAGIC);
	if (c->layout != pps_shmem_layout())
		return pps_reject(PPS_SAVE_LAYOUT, why, len,
						  "layout is 0x%016llx, expected 0x%016llx",
						  (unsigned long long) c->layout,
						  (unsigned long long) pps_shmem_layout());
	if (c->ring_size != pps_history_size)
		return pps_reject(PPS_SAVE_RING_SIZE, why, len,
						  "ring_size is %d, expected %d (pg_postmaster_stats.history_size)",
						  c->ring_size, pps_history_size);
	if (c->discarded_why < 0 || c->discarded_why >= PPS_SAVE_NUM_VERDICTS ||
		(c->discarded_why == PPS_SAVE_USABLE) != (c->discarded_at == 0))
		return pps_reject(PPS_SAVE_DISCARD_NOTE, why, len,
						  "discarded_why is %d with discarded_at %lld",
						  (int) c->discarded_why, (long long) c->discarded_at);
	if ((v = pps_check_ring(c, why, len)) != PPS_SAVE_USABLE)
		return v;
	return pps_check_histograms(c, why, len);
}

/*
 * The slot the sampler was writing when it was killed, in the checked copy:
 * a torn row is marked unreadable and its counter set back to what its
 * completed writes say; a complete row not yet counted is counted.
 */
static void
pps_close_head(PpsShared *c)
{
	uint64		nslots = (uint64) pps_history_size;
	uint64		n = pg_atomic_read_u64(&c->samples_written);
	PpsSlot    *slot = &c->ring[n % nslots];
	uint64		w = pps_slot_writes(n, n % nslots, nslots);
	uint64		seq = pg_atomic_read_u64(&slot->seq);

	if (seq == 2 * w + 1)
	{
		slot->data.index = PG_UINT64_MAX;
		pg_atomic_write_u64(&slot->seq, 2 * w);
	}
	else if (seq == 2 * w + 2)
		pg_atomic_write_u64(&c->samples_written, n + 1);
}

/*
 * In the postmaster, into the fresh segment: the saved copy if it passes
 * every check (*restored), else nothing.  Returns why it was discarded.
 */
PpsSaveVerdict
pps_shmem_restore(bool *restored)
{
	PpsSaveVerdict v;
	char		why[256];

	Assert(!IsUnderPostmaster);
	*restored = false;
	if (pps_saved == NULL)
	{
		v = pps_save_failed ? PPS_SAVE_NO_MEMORY : PPS_SAVE_USABLE;
		pps_save_failed = false;
		if (v == PPS_SAVE_NO_MEMORY)
			ereport(LOG,
					(errmsg("pg_postmaster_stats could not keep its counters and history across the crash restart"),
					 errdetail("There was no memory for a copy of %zu bytes; the counters and the history start from zero.",
							   pps_shmem_size(pps_history_size))));
		return v;
	}
	v = pps_check_saved(pps_saved, why, sizeof(why));
	if (v == PPS_SAVE_USABLE)
	{
		pps_close_head(pps_saved);
		memcpy(pps_shared, pps_saved, pps_shmem_size(pps_history_size));
		pps_shmem_init_transient(pps_shared);
		*restored = true;
	}
	else
		ereport(LOG,
				(errmsg("pg_postmaster_stats discarded its counters and history saved across the crash restart"),
				 errdetail("The saved copy of its shared memory failed a check: %s. The counters and the history start from zero.",
						   why)));
	free(pps_saved);
	pps_saved = NULL;
	return v;
}

/*
 * For pg_postmaster_stats_sources: a sentence saying that the counters were
 * reset because the copy saved across a crash restart was discarded, or
 * NULL.  The record is the postmaster's, but it is still read with bounds.
 */
char *
pps_shmem_discard_note(void)
{
	int32		why = pps_shared->discarded_why;
	TimestampTz at = pps_shared->discarded_at;

	if (why == PPS_SAVE_USABLE)
		return NULL;
	return psprintf("counters and history restarted from zero at %s: the copy of shared memory saved across a crash restart was discarded because %s (see the server log)",
					timestamptz_to_str(at),
					why > 0 && why < PPS_SAVE_NUM_VERDICTS ?
					pps_verdict_text[why] : "of an unrecorded reason");
}
