/*-------------------------------------------------------------------------
 *
 * source_cgroup.h
 *	  The postmaster's CPU cgroup: its CPU quota and how often the kernel
 *	  throttled it, from cgroup v1 (cpu controller) or v2 (unified).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_CGROUP_H
#define SOURCE_CGROUP_H

#include <sys/types.h>

/* One cgroup's CPU figures, as its own files give them. */
typedef struct PpsCgroupCpu
{
	int			version;		/* 1 or 2 */
	char		dir[MAXPGPATH]; /* the cgroup these figures are of */
	bool		limited;		/* a quota applies at dir */
	int64		quota_us;		/* CPU time per period (when limited) */
	int64		period_us;
	uint64		nr_periods;		/* cpu.stat: enforcement periods elapsed */
	uint64		nr_throttled;	/* ... in which the cgroup was throttled */
	uint64		throttled_ns;	/* time it was throttled */
	int			levels;			/* cgroups looked at, dir and ancestors */
} PpsCgroupCpu;

/*
 * Read one cgroup directory; the version is taken from the files present
 * (cpu.max: v2, cpu.cfs_quota_us: v1).  This is all that is read when
 * pg_postmaster_stats.cgroup_cpu_dir names the directory.
 */
extern bool pps_cgroup_cpu_read_dir(const char *dir, PpsCgroupCpu *out,
									char *err, size_t errlen);

/*
 * The postmaster's CPU cgroup, found from /proc/<pid>/cgroup and the mount
 * table, and of it and its ancestors the one with the smallest quota in
 * cores (throttling is counted where the quota ran out).  With no quota
 * anywhere, the postmaster's own cgroup, not limited.
 */
extern bool pps_cgroup_cpu_read(pid_t pid, PpsCgroupCpu *out,
								char *err, size_t errlen);

/*
 * Only the throttling counters (cpu.stat) of the cgroup c already names:
 * what changes between two readings of the quota and the cgroup.
 */
extern bool pps_cgroup_cpu_read_stat(PpsCgroupCpu *c, char *err, size_t errlen);

/* Forget the cached mount table: the next read parses it again. */
extern void pps_cgroup_forget_mounts(void);

#endif							/* SOURCE_CGROUP_H */
