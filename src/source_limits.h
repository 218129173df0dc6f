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

#include "pps_types_limits.h"

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

/* Suggested time between two calls with include_slow. */
#define PPS_LIMITS_SLOW_INTERVAL_MS 10000
/* a slow refresh can delay the probe by up to this much */
#define PPS_LIMITS_SLOW_MARGIN_US (100 * 1000)

extern void pps_limits_collect(const PpsLimitsInput *in, bool include_slow,
							   PpsLimitsReading *r);
extern double pps_limit_headroom_pct(const PpsLimit *l);
extern bool pps_limit_is_setting(const char *name);

#endif							/* SOURCE_LIMITS_H */
