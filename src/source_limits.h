/*-------------------------------------------------------------------------
 *
 * source_limits.h
 *	  Headroom against every server and kernel limit on the way to very
 *	  many connections: connection slots, processes, pids, files,
 *	  semaphores, the listen queue, memory and huge pages.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_LIMITS_H
#define SOURCE_LIMITS_H

#include <sys/types.h>

#include "datatype/timestamp.h"

#define PPS_LIMIT_NAME_LEN 48
#define PPS_LIMIT_UNIT_LEN 16
#define PPS_LIMIT_TEXT_LEN 160
#define PPS_MAX_LIMITS 24

/*
 * One limit.  Plain data without pointers: the caller copies whole readings
 * into shared memory.  current or maximum is NaN when it is unknown or when
 * no maximum applies (an unlimited rlimit, no cgroup limit); ok says both
 * are known, and then hint says what to change before current reaches
 * maximum.  When ok is false, hint says why.
 */
typedef struct PpsLimit
{
	char		name[PPS_LIMIT_NAME_LEN];	/* e.g. "client_connections" */
	bool		ok;
	double		current;
	double		maximum;
	char		unit[PPS_LIMIT_UNIT_LEN];	/* "connections", "bytes", ... */
	char		source[PPS_LIMIT_TEXT_LEN]; /* where the numbers come from */
	char		hint[PPS_LIMIT_TEXT_LEN];
} PpsLimit;

/*
 * What the sampler has already read in the same tick, so that each shared
 * structure is read once per tick.  -1 means unknown (its source is off);
 * the rows that need it then have ok = false.
 */
typedef struct PpsLimitsInput
{
	pid_t		postmaster_pid;
	int32		children;		/* pps_pm_children(postmaster_pid) */
	int32		client_backends;	/* PpsChildrenReading.by_type[B_BACKEND] */
	int32		wal_senders;	/* PpsChildrenReading.by_type[B_WAL_SENDER] */
	int32		bgw_slots_in_use;	/* PpsBgwReading.slots_in_use */
} PpsLimitsInput;

/*
 * Every call fills the same rows in the same order.  The slow parts (memory
 * per backend from PSS, the per-user task count, cgroup memory) are measured
 * only when include_slow is true; other calls reuse the last measurement,
 * taken at slow_sampled_at (0: not yet).
 */
typedef struct PpsLimitsReading
{
	int			nlimits;
	TimestampTz slow_sampled_at;
	PpsLimit	limits[PPS_MAX_LIMITS];
} PpsLimitsReading;

/* Suggested time between two calls with include_slow. */
#define PPS_LIMITS_SLOW_INTERVAL_MS 10000
/* a slow refresh can delay the probe by up to this much */
#define PPS_LIMITS_SLOW_MARGIN_US (100 * 1000)

extern void pps_limits_collect(const PpsLimitsInput *in, bool include_slow,
							   PpsLimitsReading *r);
extern double pps_limit_headroom_pct(const PpsLimit *l);

#endif							/* SOURCE_LIMITS_H */
