/*-------------------------------------------------------------------------
 *
 * pps_loop.h
 *	  The deadline loop shared by the extension's background workers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_LOOP_H
#define PPS_LOOP_H

typedef void (*pps_tick_fn) (void);

extern void pps_loop_run(pps_tick_fn tick) pg_attribute_noreturn();
extern double pps_thread_cpu_us(void);

/* set after each configuration reload; the worker clears it */
extern bool pps_config_reloaded;

#endif							/* PPS_LOOP_H */
