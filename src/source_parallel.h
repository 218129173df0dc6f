/*-------------------------------------------------------------------------
 *
 * source_parallel.h
 *	  Parallel workers planned vs launched, from the leader's executor.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_PARALLEL_H
#define SOURCE_PARALLEL_H

extern void pps_parallel_install(void);

#endif							/* SOURCE_PARALLEL_H */
