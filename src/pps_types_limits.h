/*-------------------------------------------------------------------------
 *
 * pps_types_limits.h
 *	  The reading of the limits source (source_limits.c), as shared memory
 *	  keeps it (pps_shmem.h): plain data, no functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_TYPES_LIMITS_H
#define PPS_TYPES_LIMITS_H

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
 * Every call of pps_limits_collect() fills the same rows in the same
 * order.  The slow parts (memory per backend from PSS, the per-user task
 * count, cgroup memory) are measured only when include_slow is true; other
 * calls reuse the last measurement, taken at slow_sampled_at (0: not yet).
 */
typedef struct PpsLimitsReading
{
	int			nlimits;
	TimestampTz slow_sampled_at;
	PpsLimit	limits[PPS_MAX_LIMITS];
} PpsLimitsReading;

#endif							/* PPS_TYPES_LIMITS_H */
