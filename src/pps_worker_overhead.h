/*-------------------------------------------------------------------------
 *
 * pps_worker_overhead.h
 *	  The sampler's side of pg_postmaster_stats_overhead.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_WORKER_OVERHEAD_H
#define PPS_WORKER_OVERHEAD_H

#include "pps_shmem.h"

extern void pps_wovh_bpf_reset(void);
extern void pps_wovh_tick_end(TimestampTz now, double tick_us);

#endif							/* PPS_WORKER_OVERHEAD_H */
