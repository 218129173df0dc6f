/*-------------------------------------------------------------------------
 *
 * pps_shmem_overhead.h
 *	  The extension's own cost: what each part adds to its counters
 *	  (PpsOvhCounters in pps_shmem.h) and the rows of
 *	  pg_postmaster_stats_overhead built from them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SHMEM_OVERHEAD_H
#define PPS_SHMEM_OVERHEAD_H

#include <time.h>

#include "pps_shmem.h"

/*
 * The hooks time one call in PPS_OVH_HOOK_SAMPLE_EVERY (picked from the
 * shared call counter, so short-lived connections are sampled as evenly as
 * long ones) and extrapolate: two clock reads on every call would cost
 * about as much as the hooks themselves.
 */
#define PPS_OVH_HOOK_SAMPLE_EVERY 64

/* Monotonic nanoseconds from the vDSO: no system call. */
static inline uint64
pps_ovh_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64) ts.tv_sec * 1000000000 + (uint64) ts.tv_nsec;
}

/* CPU time of the calling thread (a system call: not for hot paths). */
static inline uint64
pps_ovh_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64) ts.tv_sec * 1000000000 + (uint64) ts.tv_nsec;
}

/*
 * The clock a hook is timed with.  The authentication hook runs once per
 * connection, and in a connection storm a new backend is often preempted
 * inside it: wall time would count the wait (9.8 µs per call measured that
 * way under pgbench -S -C on 2 CPUs), so it reads the thread's CPU clock,
 * a system call it can afford on 1 connection in 64.  The executor hook
 * runs tens of thousands of times a second for tens of nanoseconds, too
 * short to be preempted often and too frequent for a system call: the
 * vDSO's monotonic clock.
 */
static inline bool
pps_ovh_hook_cpu_timed(PpsOvhHook hook)
{
	return hook == PPS_OVH_AUTH_HOOK;
}

static inline uint64
pps_ovh_hook_clock(PpsOvhHook hook)
{
	return pps_ovh_hook_cpu_timed(hook) ? pps_ovh_thread_cpu_ns() : pps_ovh_clock_ns();
}

/* Count a hook call; returns its start time when this call is timed, else 0. */
static inline uint64
pps_ovh_hook_enter(PpsOvhHook hook)
{
	uint64		n = pg_atomic_fetch_add_u64(&pps_shared->ovh.hook_calls[hook], 1);

	return n % PPS_OVH_HOOK_SAMPLE_EVERY == 0 ? pps_ovh_hook_clock(hook) : 0;
}

static inline void
pps_ovh_hook_leave(PpsOvhHook hook, uint64 start)
{
	if (start == 0)
		return;
	pg_atomic_fetch_add_u64(&pps_shared->ovh.hook_timed_ns[hook],
							pps_ovh_hook_clock(hook) - start);
	pg_atomic_fetch_add_u64(&pps_shared->ovh.hook_timed[hook], 1);
}

/* One row of pg_postmaster_stats_overhead. */
typedef struct PpsOvhRow
{
	char		component[48];
	uint64		calls;
	double		cpu_ns;
	char		detail[PPS_DETAIL_LEN];
} PpsOvhRow;

extern void pps_ovh_worker_tick(pg_atomic_uint64 *ticks, pg_atomic_uint64 *cpu_ns);
extern void pps_ovh_rows(PpsOvhRow *rows, const PpsOvhWindow *w);
extern void pps_ovh_window_publish(const PpsOvhWindow *w);
extern bool pps_ovh_window_read(PpsOvhWindow *out);
extern const char *pps_ovh_bpf_prog_name(int prog);

#endif							/* PPS_SHMEM_OVERHEAD_H */
