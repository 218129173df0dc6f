/*-------------------------------------------------------------------------
 *
 * source_postmaster.h
 *	  The postmaster process as the kernel sees it, from /proc/<pid>.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_POSTMASTER_H
#define SOURCE_POSTMASTER_H

#include <sys/types.h>

/* Read every tick: cheap files only. */
typedef struct PpsPmReading
{
	uint64		runtime_ns;		/* on-CPU time, /proc/<pid>/schedstat */
	uint64		rundelay_ns;	/* runnable, waiting for a CPU (schedstat) */
	int64		voluntary_ctxsw;
	int64		involuntary_ctxsw;
	int64		rss_bytes;
	int64		pagetable_bytes;
} PpsPmReading;

extern bool pps_pm_read(pid_t pid, PpsPmReading *r, char *err, size_t errlen);
extern bool pps_pm_read_ticks(pid_t pid, uint64 *utime_ticks, uint64 *stime_ticks);
extern int32 pps_pm_children(pid_t pid);

/*
 * /proc/<pid>/stat (the user/system split) costs ~50 us to generate and
 * the kernel's child list ~1 us per child, against ~20 us for schedstat and
 * status together: the expensive two are read at most this often.
 */
#define PPS_PM_SLOW_REFRESH_US (10 * 1000 * 1000)

#endif							/* SOURCE_POSTMASTER_H */
