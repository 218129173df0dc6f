/*-------------------------------------------------------------------------
 *
 * source_bgworkers.h
 *	  The server's background-worker registry: slots and registrations.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_BGWORKERS_H
#define SOURCE_BGWORKERS_H

typedef struct PpsBgwReading
{
	int32		slots_total;	/* max_worker_processes */
	int32		slots_in_use;
	int32		not_started;	/* registered, not yet forked by the postmaster */
	uint32		parallel_register_count;	/* server's wrapping counters */
	uint32		parallel_terminate_count;
	uint64		registrations;	/* dynamic registrations since the last call */
} PpsBgwReading;

extern bool pps_bgw_read(PpsBgwReading *r, char *err, size_t errlen);

#endif							/* SOURCE_BGWORKERS_H */
