/*-------------------------------------------------------------------------
 *
 * pps_probe_worker.h
 *	  The probe background worker: snapshot cost and limits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_PROBE_WORKER_H
#define PPS_PROBE_WORKER_H

#define PPS_PROBE_WORKER_TYPE "pg_postmaster_stats probe"

extern void pps_probe_worker_register(void);
extern PGDLLEXPORT void pps_probe_worker_main(Datum arg);

#endif							/* PPS_PROBE_WORKER_H */
