/*-------------------------------------------------------------------------
 *
 * source_limits_slow.c
 *	  The limits source's slow measurements, taken at most every
 *	  PPS_LIMITS_SLOW_INTERVAL_MS: memory per backend (smaps_rollup of a
 *	  sample of client backends), the server user's task count (a scan of
 *	  /proc) and the memory cgroup's working set.  Their cost grows with the
 *	  number of processes; between two slow calls the rows reuse the last
 *	  measurement kept here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "postmaster/syslogger.h"
#include "replication/walsender.h"
#include "storage/fd.h"
#include "storage/pg_shmem.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pps_compat.h"
#include "pps_procfs.h"
#include "pps_try.h"
#include "source_children.h"
#include "source_limits_internal.h"

PpsLimitsSlow pps_limits_slow;
bool		pps_limits_slow_initialised = false;

/* ---------- backend status array: pids of client backends ---------- */

typedef struct PpsLimitsPidsArg
{
	pid_t	   *pids;
	int			max;
	int			n;
} PpsLimitsPidsArg;

static bool
pps_limits_try_client_pids(void *arg, char *err, size_t errlen)
{
	PpsLimitsPidsArg *a = arg;

	a->n = pps_children_pids(B_BACKEND, a->pids, a->max, err, errlen);
	return a->n >= 0;
}

/*
 * Up to max client backend pids, spread over the backend status array;
 * -1 if it is unavailable (attaching can ERROR: caught, the probe keeps
 * running).
 */
static int
pps_limits_client_pids(pid_t *pids, int max, char *err, size_t errlen)
{
	PpsLimitsPidsArg a = {pids, max, -1};

	if (!pps_try(pps_limits_try_client_pids, &a, "could not attach to the backend status array",
				 err, errlen))
		return -1;
	return a.n;
}

/*
 * Up to max pids from a children file ("pid pid ... "), but skip.  A pid
 * cut off by the end of a partial read has no space after it: ignored.
 */
static int
pps_limits_parse_pids(const char *text, pid_t *pids, int max, pid_t skip)
{
	const char *p = text;
	int			n = 0;

	while (n < max)
	{
		char	   *end;
		long		pid = strtol(p, &end, 10);

		if (end == p || *end != ' ')
			break;
		if (pid != skip)
			pids[n++] = (pid_t) pid;
		p = end;
	}
	return n;
}

/* Up to max pids of postmaster children other than ourselves. */
static int
pps_limits_child_pids(pid_t pm, pid_t *pids, int max)
{
	char		path[64];
	char		buf[2048];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) pm, (int) pm);
	if (pps_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	return pps_limits_parse_pids(buf, pids, max, MyProcPid);
}


/* ---------- slow measurements ---------- */

/*
 * Memory one more process of this kind needs: its anonymous memory (Pss_Anon:
 * heap, stack, catalog caches, work_mem; copy-on-write pages still shared
 * with the postmaster count by share) plus its page tables (VmPTE, not in
 * any PSS figure, and large when it has touched much of shared_buffers in
 * 4 kB pages).  Shared memory is left out on purpose: it is allocated once
 * at startup and its share in a backend's PSS shrinks as backends are added.
 */
static bool
pps_limits_process_bytes(pid_t pid, double *bytes, bool *pss_anon)
{
	char		path[64];
	char		buf[4096];
	int64		anon_kb;
	int64		clean_kb;
	int64		dirty_kb;
	int64		pte_kb;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
	if (pps_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	if (pps_status_field(buf, "Pss_Anon", &anon_kb))
		*pss_anon = true;
	else if (pps_status_field(buf, "Private_Clean", &clean_kb) &&
			 pps_status_field(buf, "Private_Dirty", &dirty_kb))
	{
		/* kernels without Pss_Anon: unique memory, the closest figure */
		anon_kb = clean_kb + dirty_kb;
		*pss_anon = false;
	}
	else
		return false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if (pps_read_file(path, buf, sizeof(buf)) <= 0 ||
		!pps_status_field(buf, "VmPTE", &pte_kb))
		return false;
	*bytes = (anon_kb + pte_kb) * 1024.0;
	return true;
}

static double
pps_limits_elapsed_ns(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1e9 + (now.tv_nsec - start->tv_nsec);
}

static void
pps_limits_measure_backends(pid_t pm)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	pid_t		pids[PPS_LIMITS_PSS_SAMPLE];
	char		err[PPS_LIMIT_TEXT_LEN] = "";
	int			npids;
	int			nsampled = 0;
	double		total = 0;
	bool		pss_anon = true;
	struct timespec start;

	npids = pps_limits_client_pids(pids, PPS_LIMITS_PSS_SAMPLE,
								   err, sizeof(err));
	s->backend_clients = npids > 0;
	if (npids <= 0)
		npids = pps_limits_child_pids(pm, pids, PPS_LIMITS_PSS_SAMPLE);

	/*
	 * smaps_rollup walks the page tables of every mapping: about 5 ms per GB
	 * of shared_buffers a backend has touched in 4 kB pages.  Stop before a
	 * backend that would, at the mean cost so far, overrun the budget.
	 */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = 0; i < npids; i++)
	{
		double		elapsed = pps_limits_elapsed_ns(&start);
		double		bytes;
		bool		anon;

		if (i > 0 && elapsed + elapsed / i > PPS_LIMITS_PSS_BUDGET_NS)
			break;
		if (!pps_limits_process_bytes(pids[i], &bytes, &anon))
			continue;			/* exited meanwhile */
		total += bytes;
		pss_anon &= anon;
		nsampled++;
	}

	s->backend_nsampled = nsampled;
	s->backend_pss_anon = pss_anon;
	if (nsampled > 0)
	{
		s->backend_bytes = total / nsampled;
		s->backend_err[0] = '\0';
	}
	else
	{
		s->backend_bytes = get_float8_nan();
		snprintf(s->backend_err, sizeof(s->backend_err),
				 "no postmaster child could be measured from /proc/<pid>/smaps_rollup%s%s",
				 err[0] ? "; " : "", err);
	}
}

typedef struct PpsUserTasks
{
	uid_t		uid;
	int64		procs;			/* numeric entries of /proc seen */
	int64		stride;			/* stat every stride-th of them */
	int64		sampled;
	int64		tasks;			/* of the user, in the sampled entries */
} PpsUserTasks;

static void
pps_limits_count_user_tasks(int dfd, const char *name, void *arg)
{
	PpsUserTasks *c = (PpsUserTasks *) arg;
	struct stat st;
	char		path[32];

	if (name[0] < '0' || name[0] > '9')
		return;
	if (c->procs++ % c->stride != 0)
		return;
	c->sampled++;
	/* /proc/<pid> is owned by the process's effective uid */
	if (fstatat(dfd, name, &st, 0) != 0 || st.st_uid != c->uid)
		return;
	/* and its task directory has one link per thread, plus 2 */
	snprintf(path, sizeof(path), "%s/task", name);
	if (fstatat(dfd, path, &st, 0) != 0)
		return;					/* exited meanwhile */
	c->tasks += st.st_nlink > 2 ? (int64) st.st_nlink - 2 : 1;
}

/*
 * RLIMIT_NPROC is checked at fork() against the tasks (threads, not
 * processes) of the real uid.  The kernel does not publish that count, so
 * look at /proc with one stat per process (two for the user's own), much
 * cheaper than reading each /proc/<pid>/status.  With thousands of
 * connections even that is milliseconds, so about PPS_LIMITS_TASK_SAMPLE
 * processes are looked at: every k-th entry, k from the previous count of
 * processes, and the count scaled by the share looked at (exact up to
 * that many processes).  Processes of the
 * user that are not dumpable appear as root's and are missed, as are those
 * in other pid namespaces; the postgres processes are neither.
 */
static void
pps_limits_measure_user_tasks(void)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	PpsUserTasks c;
	int			dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool		ok;

	memset(&c, 0, sizeof(c));
	c.uid = getuid();
	if (dfd < 0)
	{
		snprintf(s->user_err, sizeof(s->user_err), "could not open /proc: %m");
		s->user_tasks = get_float8_nan();
		return;
	}
	/* the stride from the previous count: one pass over /proc */
	c.stride = Max((s->user_procs + PPS_LIMITS_TASK_SAMPLE - 1) / PPS_LIMITS_TASK_SAMPLE, 1);
	ok = pps_limits_each_entry(dfd, pps_limits_count_user_tasks, &c);
	if (!ok)
		snprintf(s->user_err, sizeof(s->user_err), "could not read /proc: %m");
	close(dfd);
	s->user_procs = c.procs;
	s->user_sampled = c.sampled;
	s->user_tasks = ok && c.sampled > 0 ?
		(double) c.tasks * ((double) c.procs / (double) c.sampled) : get_float8_nan();
}

/*
 * Memory limit and working set of the memory cgroup level with the least
 * headroom.  The working set is usage minus inactive file cache, which the
 * kernel reclaims before it OOM-kills (what kubelet calls working set).
 */
static void
pps_limits_measure_cgroup_memory(pid_t pm)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH + 32];
	char		stat[8192];
	size_t		baselen;
	bool		v1;
	double		best_headroom = get_float8_nan();

	s->cgroup_limit_bytes = get_float8_nan();
	s->cgroup_working_set_bytes = get_float8_nan();
	s->cgroup_dir[0] = '\0';
	if (!pps_limits_cgroup_dir(pm, "memory", dir, sizeof(dir), &baselen, &v1))
		return;
	s->cgroup_v1 = v1;
	strlcpy(s->cgroup_dir, dir, sizeof(s->cgroup_dir));

	do
	{
		int64		limit;
		int64		usage;
		int64		inactive;

		snprintf(path, sizeof(path), "%s/%s", dir, v1 ? "memory.limit_in_bytes" : "memory.max");
		if (!pps_limits_read_int(path, &limit) ||
			(v1 && limit >= PPS_CGROUP_V1_UNLIMITED))
			continue;			/* "max", or no file at this level */
		snprintf(path, sizeof(path), "%s/%s", dir, v1 ? "memory.usage_in_bytes" : "memory.current");
		if (!pps_limits_read_int(path, &usage))
			continue;
		snprintf(path, sizeof(path), "%s/memory.stat", dir);
		if (pps_read_file(path, stat, sizeof(stat)) <= 0 ||
			!pps_limits_kv_field(stat, v1 ? "total_inactive_file" : "inactive_file", &inactive))
			inactive = 0;
		usage = Max(usage - inactive, 0);
		if (isnan(best_headroom) || limit - usage < best_headroom)
		{
			best_headroom = (double) (limit - usage);
			s->cgroup_limit_bytes = (double) limit;
			s->cgroup_working_set_bytes = (double) usage;
			strlcpy(s->cgroup_dir, dir, sizeof(s->cgroup_dir));
		}
	} while (pps_limits_cgroup_up(dir, baselen));
}

void
pps_limits_refresh_slow(const PpsLimitsInput *in)
{
	pps_limits_measure_backends(in->postmaster_pid);
	pps_limits_measure_user_tasks();
	pps_limits_measure_cgroup_memory(in->postmaster_pid);
	pps_limits_slow.sampled_at = GetCurrentTimestamp();
}
