/*-------------------------------------------------------------------------
 *
 * pps_loop.h
 *	  What the extension's background workers share: registration and the
 *	  deadline loop.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_LOOP_H
#define PPS_LOOP_H

#include "postmaster/bgworker.h"

#include "pps_compat.h"

/* a worker that stops (ERROR, SIGTERM) is started again after this */
#define PPS_WORKER_RESTART_SECONDS 5

typedef void (*pps_tick_fn) (void);

extern void pps_loop_register(const char *function, const char *type, int flags,
							  BgWorkerStartTime start_time);

pps_noreturn extern void pps_loop_run(pps_tick_fn tick);
extern double pps_thread_cpu_us(void);

/* set after each configuration reload; the worker clears it */
extern bool pps_config_reloaded;

#endif							/* PPS_LOOP_H */
