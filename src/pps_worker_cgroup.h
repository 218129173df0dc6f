/*-------------------------------------------------------------------------
 *
 * pps_worker_cgroup.h
 *	  The sampler's side of the cgroup CPU source.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_WORKER_CGROUP_H
#define PPS_WORKER_CGROUP_H

#include "pps_shmem.h"

extern void pps_wcgroup_sample(PpsSample *s, double seconds);

#endif							/* PPS_WORKER_CGROUP_H */
