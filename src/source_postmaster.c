/*-------------------------------------------------------------------------
 *
 * source_postmaster.c
 *	  The postmaster process as the kernel sees it, from /proc/<pid>.
 *
 * The postmaster is single-threaded, so its CPU time is the time of the one
 * thread that accepts, forks and reaps: 100% means saturated.  Total on-CPU
 * time comes from schedstat (nanoseconds, every tick); the user/system split
 * comes from stat (clock ticks, usually 10 ms, and an expensive file: read
 * every PPS_PM_SLOW_REFRESH_US).  VmPTE is reported because copying the page
 * tables is what fork() spends its time on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pps_procfs.h"
#include "source_postmaster.h"

/* read every tick, so kept open (pps_procfs.h) */
static PpsOpenFile pm_schedstat = PPS_OPEN_FILE_INIT;
static PpsOpenFile pm_status = PPS_OPEN_FILE_INIT;

/* /proc/<pid>/stat: fields after the parenthesised comm, 1-based like proc(5) */
#define STAT_UTIME 14
#define STAT_STIME 15

static bool
pps_pm_parse_stat(const char *buf, uint64 *utime_ticks, uint64 *stime_ticks)
{
	const char *p = strrchr(buf, ')');
	int			field = 2;

	if (p == NULL)
		return false;
	p++;
	for (;;)
	{
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return false;
		field++;
		if (field == STAT_UTIME)
			*utime_ticks = strtoull(p, NULL, 10);
		else if (field == STAT_STIME)
		{
			*stime_ticks = strtoull(p, NULL, 10);
			return true;
		}
		while (*p && *p != ' ')
			p++;
	}
}

/*
 * Number of live (or exited but unreaped) children, from the thread's
 * children list; -1 if the kernel does not provide it.  The kernel walks
 * every child's task to produce it (about 1 us per child with cold caches),
 * so the sampler reads it at most every PPS_CHILDREN_REFRESH_US.
 */
int32
pps_pm_children(pid_t pid)
{
	char		path[64];
	char		buf[65536];
	ssize_t		len;
	int32		n = 0;
	bool		in_token = false;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) pid, (int) pid);
	len = pps_read_file(path, buf, sizeof(buf));
	if (len < 0)
		return -1;
	for (ssize_t i = 0; i < len; i++)
	{
		bool		digit = buf[i] >= '0' && buf[i] <= '9';

		if (digit && !in_token)
			n++;
		in_token = digit;
	}
	return n;
}

bool
pps_pm_read_ticks(pid_t pid, uint64 *utime_ticks, uint64 *stime_ticks)
{
	char		path[64];
	char		buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	return pps_read_file(path, buf, sizeof(buf)) > 0 &&
		pps_pm_parse_stat(buf, utime_ticks, stime_ticks);
}

bool
pps_pm_read(pid_t pid, PpsPmReading *r, char *err, size_t errlen)
{
	char		path[64];
	char		buf[4096];
	int64		v;

	memset(r, 0, sizeof(*r));

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);
	if (pps_read_open_file(&pm_schedstat, path, buf, sizeof(buf)) <= 0)
	{
		snprintf(err, errlen, "could not read %s: %m (a kernel without CONFIG_SCHED_INFO?)", path);
		return false;
	}
	{
		char	   *end;

		/* "<on-CPU ns> <run-queue wait ns> <timeslices>" */
		r->runtime_ns = strtoull(buf, &end, 10);
		r->rundelay_ns = strtoull(end, NULL, 10);
	}

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if (pps_read_open_file(&pm_status, path, buf, sizeof(buf)) < 0)
	{
		snprintf(err, errlen, "could not read %s: %m", path);
		return false;
	}
	if (pps_status_field(buf, "voluntary_ctxt_switches", &v))
		r->voluntary_ctxsw = v;
	if (pps_status_field(buf, "nonvoluntary_ctxt_switches", &v))
		r->involuntary_ctxsw = v;
	if (pps_status_field(buf, "VmRSS", &v))
		r->rss_bytes = v * 1024;
	if (pps_status_field(buf, "VmPTE", &v))
		r->pagetable_bytes = v * 1024;
	return true;
}
