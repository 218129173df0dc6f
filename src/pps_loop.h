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

/*
 * Run fn(arg, err, errlen) catching an ERROR: a worker must not restart
 * because shared memory it attaches to is not what it expected.  Returns
 * fn's result, or false with err = "<what>: <message>" after an ERROR.
 */
typedef bool (*pps_try_fn) (void *arg, char *err, size_t errlen);
extern bool pps_try(pps_try_fn fn, void *arg, const char *what,
					char *err, size_t errlen);

/* set after each configuration reload; the worker clears it */
extern bool pps_config_reloaded;

#endif							/* PPS_LOOP_H */
