/*-------------------------------------------------------------------------
 *
 * pps_worker.h
 *	  The sampler background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_WORKER_H
#define PPS_WORKER_H

#define PPS_WORKER_TYPE "pg_postmaster_stats sampler"

extern void pps_worker_register(void);
extern PGDLLEXPORT void pps_worker_main(Datum arg);

#endif							/* PPS_WORKER_H */
