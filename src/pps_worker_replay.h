/*-------------------------------------------------------------------------
 *
 * pps_worker_replay.h
 *	  The sampler's side of the replay source.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_WORKER_REPLAY_H
#define PPS_WORKER_REPLAY_H

#include "pps_shmem.h"

extern void pps_wreplay_sample(PpsSample *s, double seconds);

#endif							/* PPS_WORKER_REPLAY_H */
