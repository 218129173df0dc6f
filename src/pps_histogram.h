/*-------------------------------------------------------------------------
 *
 * pps_histogram.h
 *	  Lock-free log2 latency histograms in shared memory.
 *
 * Bucket k (0 <= k < PPS_HIST_FINITE) counts values v (in the histogram's
 * unit: microseconds for most, nanoseconds for the snapshot probe) with
 * v < 2^k and v >= 2^(k-1); the last bucket counts everything at or above
 * 2^(PPS_HIST_FINITE-1) units and is exported as le = +Inf.  Writers
 * (any backend) only do atomic fetch-adds, so recording a value costs two
 * uncontended atomic instructions and never waits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_HISTOGRAM_H
#define PPS_HISTOGRAM_H

#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "utils/float.h"

#include <math.h>

/* 2^25 us = 33.6 s (or 2^25 ns = 33.6 ms) is the largest finite bound */
#define PPS_HIST_UNIT_US 1e-6
#define PPS_HIST_UNIT_NS 1e-9
#define PPS_HIST_FINITE 26
#define PPS_HIST_BUCKETS (PPS_HIST_FINITE + 1)

typedef struct PpsHistogram
{
	pg_atomic_uint64 bucket[PPS_HIST_BUCKETS];
	pg_atomic_uint64 sum_us;
} PpsHistogram;

/* Plain copy of a histogram, for readers and for interval deltas. */
typedef struct PpsHistogramCopy
{
	uint64		bucket[PPS_HIST_BUCKETS];
	uint64		sum_us;
} PpsHistogramCopy;

static inline int
pps_hist_bucket_of(uint64 us)
{
	int			k;

	if (us == 0)
		return 0;
	k = pg_leftmost_one_pos64(us) + 1;
	return k < PPS_HIST_FINITE ? k : PPS_HIST_FINITE;
}

/* Upper bound of bucket k in seconds; +Inf for the overflow bucket. */
static inline double
pps_hist_upper_seconds(int k, double unit_seconds)
{
	if (k >= PPS_HIST_FINITE)
		return get_float8_infinity();
	return (double) ((uint64) 1 << k) * unit_seconds;
}

static inline void
pps_hist_record(PpsHistogram *h, uint64 us)
{
	pg_atomic_fetch_add_u64(&h->bucket[pps_hist_bucket_of(us)], 1);
	pg_atomic_fetch_add_u64(&h->sum_us, us);
}

static inline void
pps_hist_init(PpsHistogram *h)
{
	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
		pg_atomic_init_u64(&h->bucket[k], 0);
	pg_atomic_init_u64(&h->sum_us, 0);
}

static inline void
pps_hist_zero(PpsHistogram *h)
{
	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
		pg_atomic_write_u64(&h->bucket[k], 0);
	pg_atomic_write_u64(&h->sum_us, 0);
}

static inline void
pps_hist_copy(PpsHistogram *h, PpsHistogramCopy *out)
{
	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
		out->bucket[k] = pg_atomic_read_u64(&h->bucket[k]);
	out->sum_us = pg_atomic_read_u64(&h->sum_us);
}

static inline uint64
pps_hist_count(const PpsHistogramCopy *c)
{
	uint64		n = 0;

	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
		n += c->bucket[k];
	return n;
}

/*
 * Upper bound (seconds) of the bucket holding quantile q of the values in
 * cur minus prev; NaN when the interval saw no values.
 */
static inline double
pps_hist_quantile_delta(const PpsHistogramCopy *cur,
						const PpsHistogramCopy *prev, double q,
						double unit_seconds)
{
	uint64		delta[PPS_HIST_BUCKETS];
	uint64		total = 0;
	uint64		rank;
	uint64		seen = 0;

	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
	{
		delta[k] = cur->bucket[k] >= prev->bucket[k] ?
			cur->bucket[k] - prev->bucket[k] : cur->bucket[k];
		total += delta[k];
	}
	if (total == 0)
		return get_float8_nan();
	rank = (uint64) ceil(q * (double) total);
	if (rank == 0)
		rank = 1;
	for (int k = 0; k < PPS_HIST_BUCKETS; k++)
	{
		seen += delta[k];
		if (seen >= rank)
			return pps_hist_upper_seconds(k, unit_seconds);
	}
	return get_float8_infinity();
}

#endif							/* PPS_HISTOGRAM_H */
