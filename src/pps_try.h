/*-------------------------------------------------------------------------
 *
 * pps_try.h
 *	  Running a read that may ERROR without letting the ERROR stop the
 *	  process that asked for it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_TRY_H
#define PPS_TRY_H

/*
 * Run fn(arg, err, errlen) catching an ERROR: a worker must not restart
 * because shared memory it attaches to is not what it expected.  Returns
 * fn's result, or false with err = "<what>: <message>" after an ERROR.
 */
typedef bool (*pps_try_fn) (void *arg, char *err, size_t errlen);
extern bool pps_try(pps_try_fn fn, void *arg, const char *what,
					char *err, size_t errlen);

#endif							/* PPS_TRY_H */
