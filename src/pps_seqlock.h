/*-------------------------------------------------------------------------
 *
 * pps_seqlock.h
 *	  Single-writer sequence locks over shared memory.
 *
 * The writer makes the counter odd, writes, and makes it even again, with
 * write barriers in between; a reader copies between two reads of the
 * counter and retries when it was odd or changed.  Readers never make the
 * writer wait and never return a torn copy.  Only one process may write a
 * given seqlock (see the rules in pps_shmem.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SEQLOCK_H
#define PPS_SEQLOCK_H

#include "port/atomics.h"

/* how often a reader retries data being rewritten before giving up */
#define PPS_SEQLOCK_RETRIES 1000

static inline void
pps_seqlock_write_begin(pg_atomic_uint64 *seq)
{
	pg_atomic_write_u64(seq, pg_atomic_read_u64(seq) + 1);
	pg_write_barrier();
}

static inline void
pps_seqlock_write_end(pg_atomic_uint64 *seq)
{
	pg_write_barrier();
	pg_atomic_write_u64(seq, pg_atomic_read_u64(seq) + 1);
}

/*
 * Copy len bytes at src into dst as of one consistent moment.  Returns the
 * (even) counter value of that moment, 0 meaning "never written", or
 * PG_UINT64_MAX if no stable copy could be had.
 */
static inline uint64
pps_seqlock_read(pg_atomic_uint64 *seq, void *dst, const void *src, size_t len)
{
	for (int attempt = 0; attempt < PPS_SEQLOCK_RETRIES; attempt++)
	{
		uint64		before = pg_atomic_read_u64(seq);

		if (before & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		memcpy(dst, src, len);
		pg_read_barrier();
		if (pg_atomic_read_u64(seq) == before)
			return before;
	}
	return PG_UINT64_MAX;
}

#endif							/* PPS_SEQLOCK_H */
