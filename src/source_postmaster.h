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

typedef struct PpsPmReading
{
	uint64		utime_ticks;	/* clock ticks, /proc/<pid>/stat */
	uint64		stime_ticks;
	uint64		runtime_ns;		/* on-CPU time, /proc/<pid>/schedstat */
	bool		have_runtime;
	int64		voluntary_ctxsw;
	int64		involuntary_ctxsw;
	int64		rss_bytes;
	int64		pagetable_bytes;
	int32		children;
} PpsPmReading;

extern bool pps_pm_read(pid_t pid, PpsPmReading *r, char *err, size_t errlen);
extern int32 pps_pm_children(pid_t pid);

#endif							/* SOURCE_POSTMASTER_H */
