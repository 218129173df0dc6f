/*-------------------------------------------------------------------------
 *
 * source_limits.c
 *	  Headroom against every server and kernel limit on the way to very
 *	  many connections.
 *
 * Each row compares what is in use with the limit that refuses the next
 * one, and its hint says what to change, with the command.  The limits are
 * those digoal met on the way to a million connections (SysV semaphores,
 * pid_max, open files, fork() failing with ENOMEM, about 1 MB per
 * connection), the server's own slot pools, and the cgroup limits that a
 * service manager or a container adds.
 *
 * What counts against what, in PostgreSQL 15:
 * - A client backend takes its PGPROC from a pool of max_connections, in
 *	 InitProcess() before authentication; non-superusers are refused while
 *	 only superuser_reserved_connections (and, from 16, reserved_connections)
 *	 are left.  We count client backends in the backend status array, which
 *	 they join after authentication, so connections still authenticating
 *	 hold a slot without being counted (the sampler's children_unregistered
 *	 bounds them).
 * - Walsenders have their own pool of max_wal_senders since 12; they never
 *	 use max_connections, so they are a row of their own.
 * - Every process with a PGPROC counts in MaxBackends = max_connections +
 *	 autovacuum_max_workers + 1 (launcher) + max_worker_processes +
 *	 max_wal_senders, plus NUM_AUXILIARY_PROCS (startup or walreceiver,
 *	 bgwriter, checkpointer, walwriter, archiver), plus the logger, which
 *	 has none.  More children than that are connections the postmaster
 *	 forked only to refuse them, or that have not reached InitProcess() yet.
 *
 * Cost.  The sampler calls this every tick, so the cheap rows read only small
 * /proc and /sys files (one read(2) each, into stack buffers), make a few
 * prlimit(2) and semctl(2) calls and read GUC variables.  Three measurements
 * grow with the number of processes and run only when the caller asks for
 * the slow part: memory per backend (smaps_rollup walks each sampled
 * backend's page tables), the server user's task count (a scan of /proc) and
 * the memory cgroup's working set (memory.stat flushes the cgroup's
 * statistics).  Between two slow calls the last measurement is reused from
 * this process's memory.
 *
 * Errors.  The sampler must not ERROR here: a file that cannot be read or
 * parsed makes its row's ok false with the reason in hint.  The only call
 * that can ERROR, ShmemInitStruct() when attaching to the backend status
 * array, runs under PG_TRY.
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
#include "source_limits.h"

#define PPS_LIMITS_NROWS 18
StaticAssertDecl(PPS_LIMITS_NROWS <= PPS_MAX_LIMITS,
				 "PPS_MAX_LIMITS is too small for the limit rows");

/* Memory per backend: at most this many backends, for at most this long. */
#define PPS_LIMITS_PSS_SAMPLE 16
#define PPS_LIMITS_PSS_BUDGET_NS (20 * 1000 * 1000)

/*
 * The server's own cap on its listen() backlog: PG_SOMAXCONN (10000) in
 * pg_config_manual.h.  Where a release lacks it (not checked against 14),
 * assume the platform's SOMAXCONN.  Belongs in pps_compat.h.
 */
#ifdef PG_SOMAXCONN
#define PPS_PG_SOMAXCONN PG_SOMAXCONN
#else
#define PPS_PG_SOMAXCONN SOMAXCONN
#endif

/* sysv_sema.c allocates semaphores in sets of this many, plus one each */
#define PPS_SEMAS_PER_SET 16

/* cgroup v1 writes "no limit" as the largest page-aligned long */
#define PPS_CGROUP_V1_UNLIMITED (PG_INT64_MAX / 2)

/* The slow measurements, kept between slow calls. */
typedef struct PpsLimitsSlow
{
	TimestampTz sampled_at;		/* 0: never */

	/* memory one more backend needs: mean over a sample of backends */
	double		backend_bytes;	/* NaN: unknown, see backend_err */
	int			backend_nsampled;
	bool		backend_clients;	/* sampled client backends, not others */
	bool		backend_pss_anon;	/* Pss_Anon, else USS (older kernels) */
	char		backend_err[PPS_LIMIT_TEXT_LEN];

	/* tasks of the server's user, for RLIMIT_NPROC */
	double		user_tasks;		/* NaN: unknown, see user_err */
	char		user_err[PPS_LIMIT_TEXT_LEN];

	/* the memory cgroup level with the least headroom */
	double		cgroup_limit_bytes; /* NaN: no limit found */
	double		cgroup_working_set_bytes;
	bool		cgroup_v1;
	char		cgroup_dir[MAXPGPATH];
} PpsLimitsSlow;

static PpsLimitsSlow pps_limits_slow;
static bool pps_limits_slow_initialised = false;

static PgBackendStatus *pps_limits_be_array = NULL;
static int	pps_limits_be_slots = 0;


/* ---------- rows ---------- */

static PpsLimit *
pps_limit_add(PpsLimitsReading *r, const char *name, const char *unit)
{
	PpsLimit   *l;

	Assert(r->nlimits < PPS_MAX_LIMITS);
	l = &r->limits[Min(r->nlimits, PPS_MAX_LIMITS - 1)];
	r->nlimits = Min(r->nlimits + 1, PPS_MAX_LIMITS);
	strlcpy(l->name, name, sizeof(l->name));
	strlcpy(l->unit, unit, sizeof(l->unit));
	l->ok = false;
	l->current = get_float8_nan();
	l->maximum = get_float8_nan();
	l->source[0] = '\0';
	l->hint[0] = '\0';
	return l;
}

static void
pps_limit_set(PpsLimit *l, double current, double maximum)
{
	l->current = current;
	l->maximum = maximum;
	l->ok = !isnan(current) && !isnan(maximum);
}

double
pps_limit_headroom_pct(const PpsLimit *l)
{
	if (!l->ok || !(l->maximum > 0))
		return get_float8_nan();
	return 100.0 * (l->maximum - l->current) / l->maximum;
}


/* ---------- small readers ---------- */

/*
 * Parse up to n whitespace-separated integers from a small file.  Returns
 * how many were parsed, or -1 if the file could not be read.
 */
static int
pps_limits_read_ints(const char *path, int64 *v, int n)
{
	char		buf[256];
	char	   *p = buf;
	int			i;

	if (pps_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (i = 0; i < n; i++)
	{
		char	   *end;

		v[i] = strtoll(p, &end, 10);
		if (end == p)
			break;
		p = end;
	}
	return i;
}

static bool
pps_limits_read_int(const char *path, int64 *v)
{
	return pps_limits_read_ints(path, v, 1) == 1;
}

/* "key value" lines, as in memory.stat */
static bool
pps_limits_kv_field(const char *text, const char *key, int64 *value)
{
	size_t		keylen = strlen(key);
	const char *p = text;

	while (p && *p)
	{
		if (strncmp(p, key, keylen) == 0 && p[keylen] == ' ')
		{
			*value = strtoll(p + keylen + 1, NULL, 10);
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* A GUC as an integer, by name, so that names missing in a version are fine */
static int
pps_limits_guc_int(const char *name, int missing)
{
	const char *v = GetConfigOption(name, true, false);

	return v ? (int) strtol(v, NULL, 10) : missing;
}

/* Soft limit of a resource of another process; NaN when unlimited. */
static bool
pps_limits_rlimit(pid_t pid, int resource, double *soft,
				  char *err, size_t errlen)
{
	struct rlimit rl;

	if (prlimit(pid, resource, NULL, &rl) != 0)
	{
		snprintf(err, errlen, "prlimit(%d) failed: %m", (int) pid);
		return false;
	}
	*soft = rl.rlim_cur == RLIM_INFINITY ?
		get_float8_nan() : (double) rl.rlim_cur;
	return true;
}

/*
 * Call visit for each entry of directory dfd but "." and "..".  getdents64
 * into a stack buffer, because readdir() would malloc.
 */
static bool
pps_limits_each_entry(int dfd,
					  void (*visit) (int dfd, const char *name, void *arg),
					  void *arg)
{
	char		buf[16384] pg_attribute_aligned(8);

	for (;;)
	{
		ssize_t		n = getdents64(dfd, buf, sizeof(buf));
		ssize_t		off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0;
		while (off < n)
		{
			struct dirent64 *d = (struct dirent64 *) (buf + off);

			off += d->d_reclen;
			if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
				visit(dfd, d->d_name, arg);
		}
	}
}

static void
pps_limits_count_entry(int dfd, const char *name, void *arg)
{
	(*(int64 *) arg)++;
}

/* Number of entries in a directory, or -1 with errno set. */
static int64
pps_limits_count_dir(const char *path)
{
	int			dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64		n = 0;
	bool		ok;
	int			save_errno;

	if (dfd < 0)
		return -1;
	ok = pps_limits_each_entry(dfd, pps_limits_count_entry, &n);
	save_errno = errno;
	close(dfd);
	errno = save_errno;
	return ok ? n : -1;
}


/* ---------- backend status array: pids of client backends ---------- */

/* Attach the way source_children.c does; see there. */
static bool
pps_limits_be_attach(char *err, size_t errlen)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = false;

	if (pps_limits_be_array != NULL)
		return true;

	PG_TRY();
	{
		int			slots = PPS_BACKEND_STATUS_SLOTS();
		bool		found;
		PgBackendStatus *arr;

		arr = ShmemInitStruct("Backend Status Array",
							  mul_size(sizeof(PgBackendStatus), slots), &found);
		if (found)
		{
			pps_limits_be_array = arr;
			pps_limits_be_slots = slots;
			ok = true;
		}
		else
			snprintf(err, errlen, "the server has no \"Backend Status Array\" in shared memory");
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		snprintf(err, errlen, "could not attach to the backend status array: %s",
				 edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return ok;
}

/* pid of entry i if it is a client backend, else 0 */
static int
pps_limits_be_client_pid(int i)
{
	volatile PgBackendStatus *be = &pps_limits_be_array[i];

	/* a writer holds the count odd for a few instructions; do not spin on it */
	for (int attempt = 0; attempt < 100; attempt++)
	{
		int			before;
		int			after;
		int			pid;
		BackendType type;

		pgstat_begin_read_activity(be, before);
		pid = be->st_procpid;
		type = be->st_backendType;
		pgstat_end_read_activity(be, after);
		if (pgstat_read_activity_complete(before, after))
			return type == B_BACKEND && pid > 0 ? pid : 0;
	}
	return 0;
}

/*
 * Up to max client backend pids, spread evenly over the array so that the
 * sample is not only the oldest slots.  -1 if the array is unavailable.
 */
static int
pps_limits_client_pids(pid_t *pids, int max, char *err, size_t errlen)
{
	int			nclients = 0;
	int			stride;
	int			seen = 0;
	int			n = 0;

	if (!pps_limits_be_attach(err, errlen))
		return -1;
	for (int i = 0; i < pps_limits_be_slots; i++)
		if (pps_limits_be_client_pid(i) > 0)
			nclients++;
	stride = Max(nclients / max, 1);
	for (int i = 0; i < pps_limits_be_slots && n < max; i++)
	{
		int			pid = pps_limits_be_client_pid(i);

		if (pid > 0 && seen++ % stride == 0)
			pids[n++] = pid;
	}
	return n;
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
	int64		tasks;
} PpsUserTasks;

static void
pps_limits_count_user_tasks(int dfd, const char *name, void *arg)
{
	PpsUserTasks *c = (PpsUserTasks *) arg;
	struct stat st;
	char		path[32];

	if (name[0] < '0' || name[0] > '9')
		return;
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
 * scan /proc with one stat per process (two for the user's own), much
 * cheaper than reading each /proc/<pid>/status.  Processes of the user that
 * are not dumpable appear as root's and are missed, as are those in other
 * pid namespaces; the postgres processes are neither.
 */
static void
pps_limits_measure_user_tasks(void)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	PpsUserTasks c;
	int			dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool		ok;

	c.uid = getuid();
	c.tasks = 0;
	if (dfd < 0)
	{
		snprintf(s->user_err, sizeof(s->user_err), "could not open /proc: %m");
		s->user_tasks = get_float8_nan();
		return;
	}
	ok = pps_limits_each_entry(dfd, pps_limits_count_user_tasks, &c);
	if (!ok)
		snprintf(s->user_err, sizeof(s->user_err), "could not read /proc: %m");
	close(dfd);
	s->user_tasks = ok ? (double) c.tasks : get_float8_nan();
}

/*
 * The directory of the postmaster's cgroup for a controller: in the cgroup
 * v1 hierarchy of that controller if it is mounted (the systemd layout,
 * /sys/fs/cgroup/<controllers>), else in the unified v2 hierarchy at
 * /sys/fs/cgroup.  baselen gets the length of the hierarchy's root, so that
 * the caller can walk up to it.
 */
static bool
pps_limits_cgroup_parse(char *text, const char *controller,
						char *dir, size_t dirlen, size_t *baselen, bool *v1)
{
	char		list[256];
	char		token[64];
	char	   *line = text;
	const char *v2path = NULL;

	/* lines are "hierarchy-id:controller,controller:path" */
	while (line && *line)
	{
		char	   *next = strchr(line, '\n');
		char	   *c1;
		char	   *c2;

		if (next)
			*next++ = '\0';
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2)
		{
			const char *controllers = c1 + 1;
			const char *cgpath = strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1;
			size_t		tlen = c2 - controllers;

			*c2 = '\0';
			if (tlen == 0 && strncmp(line, "0:", 2) == 0)
				v2path = cgpath;
			else
			{
				/* the controller among the comma-separated ones? */
				snprintf(token, sizeof(token), ",%s,", controller);
				snprintf(list, sizeof(list), ",%s,", controllers);
				if (strstr(list, token) != NULL)
				{
					*baselen = snprintf(dir, dirlen, "/sys/fs/cgroup/%s", controllers);
					strlcat(dir, cgpath, dirlen);
					*v1 = true;
					return true;
				}
			}
		}
		line = next;
	}
	if (v2path == NULL)
		return false;
	*baselen = snprintf(dir, dirlen, "/sys/fs/cgroup");
	strlcat(dir, v2path, dirlen);
	*v1 = false;
	return true;
}

static bool
pps_limits_cgroup_dir(pid_t pm, const char *controller,
					  char *dir, size_t dirlen, size_t *baselen, bool *v1)
{
	char		path[64];
	char		buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pm);
	if (pps_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	return pps_limits_cgroup_parse(buf, controller, dir, dirlen, baselen, v1);
}

/* From dir up to the hierarchy's root; false once dir is the root. */
static bool
pps_limits_cgroup_up(char *dir, size_t baselen)
{
	char	   *slash;

	if (strlen(dir) <= baselen)
		return false;
	slash = strrchr(dir + baselen, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	return true;
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

static void
pps_limits_refresh_slow(const PpsLimitsInput *in)
{
	pps_limits_measure_backends(in->postmaster_pid);
	pps_limits_measure_user_tasks();
	pps_limits_measure_cgroup_memory(in->postmaster_pid);
	pps_limits_slow.sampled_at = GetCurrentTimestamp();
}


/* ---------- server pools ---------- */

static void
pps_limits_client_connections(PpsLimitsReading *r, const PpsLimitsInput *in)
{
	PpsLimit   *l = pps_limit_add(r, "client_connections", "connections");
	int			su = pps_limits_guc_int("superuser_reserved_connections", 0);
	int			reserved = pps_limits_guc_int("reserved_connections", 0);	/* 16+ */

	if (reserved > 0)
		snprintf(l->source, sizeof(l->source),
				 "client backends in the backend status array vs max_connections %d - superuser_reserved_connections %d - reserved_connections %d",
				 MaxConnections, su, reserved);
	else
		snprintf(l->source, sizeof(l->source),
				 "client backends in the backend status array vs max_connections %d - superuser_reserved_connections %d",
				 MaxConnections, su);
	l->maximum = MaxConnections - su - reserved;
	if (in->client_backends < 0)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "unknown this sample: the backend status array could not be read");
		return;
	}
	pps_limit_set(l, in->client_backends, MaxConnections - su - reserved);
	snprintf(l->hint, sizeof(l->hint),
			 "then only roles allowed the %d reserved slots get in; raise max_connections (restart) or put a connection pooler in front",
			 su + reserved);
}

static void
pps_limits_wal_senders(PpsLimitsReading *r, const PpsLimitsInput *in)
{
	PpsLimit   *l = pps_limit_add(r, "wal_sender_slots", "connections");

	snprintf(l->source, sizeof(l->source),
			 "walsenders in the backend status array vs max_wal_senders %d (their own slots, not max_connections)",
			 max_wal_senders);
	l->maximum = max_wal_senders;
	if (in->wal_senders < 0)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "unknown this sample: the backend status array could not be read");
		return;
	}
	pps_limit_set(l, in->wal_senders, max_wal_senders);
	snprintf(l->hint, sizeof(l->hint),
			 "then standbys and pg_basebackup are refused (\"number of requested standby connections exceeds max_wal_senders\"); raise max_wal_senders (restart)");
}

static void
pps_limits_bgworkers(PpsLimitsReading *r, const PpsLimitsInput *in)
{
	PpsLimit   *l = pps_limit_add(r, "bgworker_slots", "workers");

	snprintf(l->source, sizeof(l->source),
			 "slots in use in the \"Background Worker Data\" registry vs max_worker_processes %d",
			 max_worker_processes);
	l->maximum = max_worker_processes;
	if (in->bgw_slots_in_use < 0)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "unknown this sample: the background worker registry could not be read");
		return;
	}
	pps_limit_set(l, in->bgw_slots_in_use, max_worker_processes);
	snprintf(l->hint, sizeof(l->hint),
			 "then parallel queries get fewer workers and extensions cannot start theirs; raise max_worker_processes (restart)");
}

static void
pps_limits_server_processes(PpsLimitsReading *r, const PpsLimitsInput *in)
{
	PpsLimit   *l = pps_limit_add(r, "server_processes", "processes");
	int			maximum = MaxBackends + NUM_AUXILIARY_PROCS +
		(Logging_collector ? 1 : 0);

	snprintf(l->source, sizeof(l->source),
			 "/proc/%d/task/%d/children vs MaxBackends %d + %d auxiliary processes%s",
			 (int) in->postmaster_pid, (int) in->postmaster_pid,
			 MaxBackends, NUM_AUXILIARY_PROCS, Logging_collector ? " + 1 logger" : "");
	l->maximum = maximum;
	if (in->children < 0)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "unknown this sample: /proc/%d/task/%d/children could not be read",
				 (int) in->postmaster_pid, (int) in->postmaster_pid);
		return;
	}
	pps_limit_set(l, in->children, maximum);
	snprintf(l->hint, sizeof(l->hint),
			 "children above the maximum are connections being refused or not yet in a slot; raise the pool that is full (rows above)");
}

/*
 * The server asks listen() for min(2 * MaxBackends, PG_SOMAXCONN); the kernel
 * silently caps the backlog at net.core.somaxconn as it was when the server
 * started (source_accept.c reads the queue size actually in force).
 */
static void
pps_limits_listen_backlog(PpsLimitsReading *r)
{
	PpsLimit   *l = pps_limit_add(r, "listen_backlog", "connections");
	int			requested = Min(2 * MaxBackends, PPS_PG_SOMAXCONN);
	int64		somaxconn;

	snprintf(l->source, sizeof(l->source),
			 "listen() backlog min(2 * MaxBackends %d, %d) vs /proc/sys/net/core/somaxconn, which caps it when the server starts",
			 MaxBackends, PPS_PG_SOMAXCONN);
	l->current = requested;
	if (!pps_limits_read_int("/proc/sys/net/core/somaxconn", &somaxconn))
	{
		snprintf(l->hint, sizeof(l->hint), "could not read /proc/sys/net/core/somaxconn: %m");
		return;
	}
	pps_limit_set(l, requested, somaxconn);
	snprintf(l->hint, sizeof(l->hint),
			 "a backlog above somaxconn is cut to it: sysctl -w net.core.somaxconn=%d, then restart PostgreSQL (applied at listen())",
			 requested);
}


/* ---------- processes and pids ---------- */

static void
pps_limits_user_tasks(PpsLimitsReading *r, pid_t pm)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	PpsLimit   *l = pps_limit_add(r, "user_processes_nproc", "tasks");
	double		soft;

	snprintf(l->source, sizeof(l->source),
			 "tasks of uid %d in /proc (%s%s) vs RLIMIT_NPROC of the postmaster (/proc/%d/limits \"Max processes\")",
			 (int) getuid(), s->sampled_at ? "counted at " : "not counted yet",
			 s->sampled_at ? timestamptz_to_str(s->sampled_at) : "", (int) pm);
	l->current = s->user_tasks;
	if (!pps_limits_rlimit(pm, RLIMIT_NPROC, &soft, l->hint, sizeof(l->hint)))
		return;
	if (isnan(soft))
	{
		snprintf(l->hint, sizeof(l->hint),
				 "RLIMIT_NPROC is unlimited for the postmaster: no per-user task limit applies");
		return;
	}
	l->maximum = soft;
	if (s->sampled_at == 0)
	{
		snprintf(l->hint, sizeof(l->hint), "not counted yet: counted by the slow part of the sampler");
		return;
	}
	if (isnan(s->user_tasks))
	{
		strlcpy(l->hint, s->user_err, sizeof(l->hint));
		return;
	}
	pps_limit_set(l, s->user_tasks, soft);
	snprintf(l->hint, sizeof(l->hint),
			 "then fork() fails with EAGAIN (\"could not fork new process for connection\"); raise LimitNPROC= (systemd) or nproc in limits.conf");
}

/*
 * The pids controller counts tasks in the cgroup and its descendants, and
 * every ancestor's pids.max applies: report the level with least headroom.
 * systemd's DefaultTasksMax (15% of the smaller of pid_max and threads-max)
 * is the usual surprise here.
 */
static void
pps_limits_cgroup_pids(PpsLimitsReading *r, pid_t pm)
{
	PpsLimit   *l = pps_limit_add(r, "cgroup_pids", "tasks");
	char		dir[MAXPGPATH];
	char		path[MAXPGPATH + 32];
	char		leaf[MAXPGPATH];
	char		best_dir[MAXPGPATH] = "";
	size_t		baselen;
	bool		v1;
	double		best_cur = get_float8_nan();
	double		best_max = get_float8_nan();

	if (!pps_limits_cgroup_dir(pm, "pids", dir, sizeof(dir), &baselen, &v1))
	{
		snprintf(l->source, sizeof(l->source), "/proc/%d/cgroup", (int) pm);
		snprintf(l->hint, sizeof(l->hint), "the postmaster's pids cgroup could not be found");
		return;
	}
	strlcpy(leaf, dir, sizeof(leaf));
	do
	{
		int64		max;
		int64		cur;

		snprintf(path, sizeof(path), "%s/pids.max", dir);
		if (!pps_limits_read_int(path, &max))
			continue;			/* "max", or the root */
		snprintf(path, sizeof(path), "%s/pids.current", dir);
		if (!pps_limits_read_int(path, &cur))
			continue;
		if (isnan(best_max) || max - cur < best_max - best_cur)
		{
			best_cur = cur;
			best_max = max;
			strlcpy(best_dir, dir, sizeof(best_dir));
		}
	} while (pps_limits_cgroup_up(dir, baselen));

	if (isnan(best_max))
	{
		snprintf(l->source, sizeof(l->source), "pids.max of %s and its ancestors",
				 leaf);
		snprintf(l->hint, sizeof(l->hint), "no pids limit on the postmaster's cgroup or its ancestors");
		return;
	}
	snprintf(l->source, sizeof(l->source), "%s/pids.current vs pids.max", best_dir);
	pps_limit_set(l, best_cur, best_max);
	snprintf(l->hint, sizeof(l->hint),
			 "then fork() fails with EAGAIN; raise TasksMax= of the service (systemctl edit) or the container's pids limit");
}

/* "0.52 2.05 2.32 1/1126 3138": the total after the slash; NaN if absent */
static double
pps_limits_parse_loadavg_tasks(const char *loadavg)
{
	const char *slash = strchr(loadavg, '/');
	char	   *end;
	double		tasks;

	if (slash == NULL)
		return get_float8_nan();
	tasks = strtod(slash + 1, &end);
	return end == slash + 1 ? get_float8_nan() : tasks;
}

/*
 * Every thread on the machine takes a pid and counts against threads-max;
 * /proc/loadavg's "running/total" field has the total without a scan.  Pids
 * also stay taken by zombies and by process groups whose leader exited, so
 * pids in use can be slightly more than tasks.
 */
static void
pps_limits_system_tasks(PpsLimitsReading *r)
{
	PpsLimit   *pidl = pps_limit_add(r, "system_tasks_pid_max", "tasks");
	PpsLimit   *thrl = pps_limit_add(r, "system_threads_max", "tasks");
	char		buf[128];
	double		tasks = get_float8_nan();
	int64		v;

	snprintf(pidl->source, sizeof(pidl->source),
			 "tasks (threads) on the machine in /proc/loadavg vs /proc/sys/kernel/pid_max");
	snprintf(thrl->source, sizeof(thrl->source),
			 "tasks (threads) on the machine in /proc/loadavg vs /proc/sys/kernel/threads-max");
	if (pps_read_file("/proc/loadavg", buf, sizeof(buf)) > 0)
		tasks = pps_limits_parse_loadavg_tasks(buf);
	pidl->current = thrl->current = tasks;
	if (isnan(tasks))
	{
		snprintf(pidl->hint, sizeof(pidl->hint), "could not read /proc/loadavg");
		strlcpy(thrl->hint, pidl->hint, sizeof(thrl->hint));
	}

	if (pps_limits_read_int("/proc/sys/kernel/pid_max", &v))
	{
		pps_limit_set(pidl, tasks, v);
		if (pidl->ok)
			snprintf(pidl->hint, sizeof(pidl->hint),
					 "then fork() fails with EAGAIN; sysctl -w kernel.pid_max=4194304 (the 64-bit maximum)");
	}
	else
		snprintf(pidl->hint, sizeof(pidl->hint), "could not read /proc/sys/kernel/pid_max: %m");

	if (pps_limits_read_int("/proc/sys/kernel/threads-max", &v))
	{
		pps_limit_set(thrl, tasks, v);
		if (thrl->ok)
			snprintf(thrl->hint, sizeof(thrl->hint),
					 "then fork() fails with EAGAIN; sysctl -w kernel.threads-max=%lld",
					 (long long) v * 2);
	}
	else
		snprintf(thrl->hint, sizeof(thrl->hint), "could not read /proc/sys/kernel/threads-max: %m");
}


/* ---------- files ---------- */

static void
pps_limits_files(PpsLimitsReading *r, pid_t pm)
{
	PpsLimit   *bel = pps_limit_add(r, "backend_open_files", "files");
	PpsLimit   *pml = pps_limit_add(r, "postmaster_open_files", "files");
	PpsLimit   *sysl = pps_limit_add(r, "system_open_files", "files");
	char		path[64];
	char		err[PPS_LIMIT_TEXT_LEN];
	double		nofile;
	int64		fds;
	int64		nr[3];

	/*
	 * Backends inherit the postmaster's RLIMIT_NOFILE.  fd.c's
	 * set_max_safe_fds() quietly keeps each backend to what both allow, so
	 * here current above maximum means max_files_per_process is not honoured.
	 */
	snprintf(bel->source, sizeof(bel->source),
			 "max_files_per_process vs the postmaster's RLIMIT_NOFILE (/proc/%d/limits \"Max open files\"), which backends inherit",
			 (int) pm);
	snprintf(pml->source, sizeof(pml->source),
			 "entries in /proc/%d/fd vs its RLIMIT_NOFILE (/proc/%d/limits \"Max open files\")",
			 (int) pm, (int) pm);
	bel->current = max_files_per_process;
	if (!pps_limits_rlimit(pm, RLIMIT_NOFILE, &nofile, err, sizeof(err)))
	{
		strlcpy(bel->hint, err, sizeof(bel->hint));
		strlcpy(pml->hint, err, sizeof(pml->hint));
	}
	else
	{
		pps_limit_set(bel, max_files_per_process, nofile);
		snprintf(bel->hint, sizeof(bel->hint),
				 "above it backends keep fewer files open than max_files_per_process; raise LimitNOFILE= (systemd) or ulimit -n");

		snprintf(path, sizeof(path), "/proc/%d/fd", (int) pm);
		fds = pps_limits_count_dir(path);
		if (fds < 0)
			snprintf(pml->hint, sizeof(pml->hint), "could not read %s: %m", path);
		else
		{
			pps_limit_set(pml, fds, nofile);
			snprintf(pml->hint, sizeof(pml->hint),
					 "then the postmaster cannot accept connections (EMFILE); raise LimitNOFILE= (systemd) or ulimit -n");
		}
	}

	/* file-nr: allocated handles, 0 (free, always 0 since 2.6), file-max */
	snprintf(sysl->source, sizeof(sysl->source),
			 "allocated file handles vs fs.file-max, both in /proc/sys/fs/file-nr");
	if (pps_limits_read_ints("/proc/sys/fs/file-nr", nr, 3) != 3)
	{
		snprintf(sysl->hint, sizeof(sysl->hint), "could not read /proc/sys/fs/file-nr");
		return;
	}
	pps_limit_set(sysl, nr[0], nr[2]);
	snprintf(sysl->hint, sizeof(sysl->hint),
			 "then open() and accept() fail with ENFILE machine-wide; sysctl -w fs.file-max=N; each backend may open %d files",
			 max_files_per_process);
}


/* ---------- semaphores ---------- */

/* glibc leaves the declaration of semctl()'s fourth argument to the caller */
union pps_semun
{
	int			val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *__buf;
};

/*
 * Servers built with SysV semaphores (not Debian's or most Linux builds,
 * which use unnamed POSIX semaphores in shared memory, with no kernel limit)
 * create all of theirs at startup, in sets of 16 + 1.  semctl(SEM_INFO)
 * gives what is in use in this IPC namespace, as `ipcs -u` shows it.
 */
static void
pps_limits_sysv_semaphores(PpsLimitsReading *r)
{
	PpsLimit   *setl = pps_limit_add(r, "sysv_semaphore_sets", "semaphore sets");
	PpsLimit   *seml = pps_limit_add(r, "sysv_semaphores", "semaphores");
	struct seminfo used;
	struct seminfo lim;
	union pps_semun arg;
	int			own_sets = (MaxBackends + NUM_AUXILIARY_PROCS + PPS_SEMAS_PER_SET - 1) /
		PPS_SEMAS_PER_SET;
#ifdef USE_SYSV_SEMAPHORES
	bool		sysv = true;
#else
	bool		sysv = false;
#endif

	snprintf(setl->source, sizeof(setl->source),
			 "semctl(SEM_INFO) sets in use (ipcs -u) vs SEMMNI, field 4 of /proc/sys/kernel/sem");
	snprintf(seml->source, sizeof(seml->source),
			 "semctl(SEM_INFO) semaphores in use (ipcs -u) vs SEMMNS, field 2 of /proc/sys/kernel/sem");
	if (!sysv)
	{
		snprintf(setl->hint, sizeof(setl->hint),
				 "server uses POSIX semaphores: no SysV semaphore limit applies");
		strlcpy(seml->hint, setl->hint, sizeof(seml->hint));
		return;
	}

	arg.__buf = &used;
	if (semctl(0, 0, SEM_INFO, arg) < 0)
	{
		snprintf(setl->hint, sizeof(setl->hint), "semctl(SEM_INFO) failed: %m");
		strlcpy(seml->hint, setl->hint, sizeof(seml->hint));
		return;
	}
	arg.__buf = &lim;
	if (semctl(0, 0, IPC_INFO, arg) < 0)
	{
		snprintf(setl->hint, sizeof(setl->hint), "semctl(IPC_INFO) failed: %m");
		strlcpy(seml->hint, setl->hint, sizeof(seml->hint));
		return;
	}
	pps_limit_set(setl, used.semusz, lim.semmni);
	pps_limit_set(seml, used.semaem, lim.semmns);
	snprintf(setl->hint, sizeof(setl->hint),
			 "this server holds %d sets, 1 per 16 of MaxBackends + %d, taken at start; sysctl -w kernel.sem='SEMMSL SEMMNS SEMOPM SEMMNI'",
			 own_sets, NUM_AUXILIARY_PROCS);
	snprintf(seml->hint, sizeof(seml->hint),
			 "this server holds %d semaphores (17 per set), taken at start; sysctl -w kernel.sem='SEMMSL SEMMNS SEMOPM SEMMNI'",
			 own_sets * (PPS_SEMAS_PER_SET + 1));
}


/* ---------- memory ---------- */

static void
pps_limits_memory_backends(PpsLimitsReading *r, const PpsLimitsInput *in,
						   const char *meminfo)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	PpsLimit   *l = pps_limit_add(r, "memory_backends", "backends");
	int64		avail_kb;
	double		avail;
	const char *into = "MemAvailable";

	l->current = in->client_backends >= 0 ?
		in->client_backends : get_float8_nan();
	if (s->sampled_at == 0)
	{
		snprintf(l->source, sizeof(l->source), "/proc/<pid>/smaps_rollup and status of up to %d client backends, /proc/meminfo",
				 PPS_LIMITS_PSS_SAMPLE);
		snprintf(l->hint, sizeof(l->hint), "not measured yet: measured by the slow part of the sampler");
		return;
	}
	if (isnan(s->backend_bytes))
	{
		snprintf(l->source, sizeof(l->source), "/proc/<pid>/smaps_rollup, measured %s",
				 timestamptz_to_str(s->sampled_at));
		strlcpy(l->hint, s->backend_err, sizeof(l->hint));
		return;
	}
	if (meminfo == NULL || !pps_status_field(meminfo, "MemAvailable", &avail_kb))
	{
		snprintf(l->hint, sizeof(l->hint), "could not read MemAvailable from /proc/meminfo");
		return;
	}
	avail = avail_kb * 1024.0;
	if (!isnan(s->cgroup_limit_bytes) &&
		s->cgroup_limit_bytes - s->cgroup_working_set_bytes < avail)
	{
		avail = Max(s->cgroup_limit_bytes - s->cgroup_working_set_bytes, 0);
		into = "cgroup memory";
	}
	snprintf(l->source, sizeof(l->source),
			 "%.2f MB per backend (%s + VmPTE, mean of %d %s at %s) into %s %.0f MB",
			 s->backend_bytes / (1024.0 * 1024.0),
			 s->backend_pss_anon ? "Pss_Anon" : "USS", s->backend_nsampled,
			 s->backend_clients ? "client backends" : "postmaster children",
			 timestamptz_to_str(s->sampled_at),
			 into, avail / (1024.0 * 1024.0));
	if (isnan(l->current))
	{
		snprintf(l->hint, sizeof(l->hint),
				 "client backend count unknown this sample: the backend status array could not be read");
		return;
	}
	pps_limit_set(l, l->current, l->current + floor(avail / s->backend_bytes));
	snprintf(l->hint, sizeof(l->hint),
			 "each more connection needs that much; add RAM, lower work_mem, or pool connections; huge pages shrink VmPTE");
}

/*
 * With vm.overcommit_memory = 2 the kernel refuses any allocation, fork()
 * included, that would take Committed_AS past CommitLimit: the "could not
 * fork new process for connection: Cannot allocate memory" of the article.
 * In modes 0 and 1 no such limit applies.
 */
static void
pps_limits_memory_commit(PpsLimitsReading *r, const char *meminfo)
{
	PpsLimit   *l = pps_limit_add(r, "memory_commit", "bytes");
	int64		mode;
	int64		committed_kb;
	int64		limit_kb;

	snprintf(l->source, sizeof(l->source),
			 "Committed_AS vs CommitLimit in /proc/meminfo, enforced when /proc/sys/vm/overcommit_memory is 2");
	if (meminfo == NULL || !pps_status_field(meminfo, "Committed_AS", &committed_kb) ||
		!pps_status_field(meminfo, "CommitLimit", &limit_kb))
	{
		snprintf(l->hint, sizeof(l->hint), "could not read Committed_AS and CommitLimit from /proc/meminfo");
		return;
	}
	l->current = committed_kb * 1024.0;
	if (!pps_limits_read_int("/proc/sys/vm/overcommit_memory", &mode))
	{
		snprintf(l->hint, sizeof(l->hint), "could not read /proc/sys/vm/overcommit_memory: %m");
		return;
	}
	if (mode != 2)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "vm.overcommit_memory = %d: no commit limit is enforced; running out of memory shows as the OOM killer instead",
				 (int) mode);
		return;
	}
	pps_limit_set(l, committed_kb * 1024.0, limit_kb * 1024.0);
	snprintf(l->hint, sizeof(l->hint),
			 "then fork() fails with ENOMEM; raise vm.overcommit_ratio (sysctl -w vm.overcommit_ratio=N) or add swap");
}

static void
pps_limits_cgroup_memory(PpsLimitsReading *r)
{
	PpsLimitsSlow *s = &pps_limits_slow;
	PpsLimit   *l = pps_limit_add(r, "cgroup_memory", "bytes");

	if (s->cgroup_dir[0] == '\0')
		snprintf(l->source, sizeof(l->source),
				 "the postmaster's memory cgroup (/proc/<pid>/cgroup): working set vs limit");
	else if (s->cgroup_v1)
		snprintf(l->source, sizeof(l->source),
				 "%s: memory.usage_in_bytes - total_inactive_file vs memory.limit_in_bytes",
				 s->cgroup_dir);
	else
		snprintf(l->source, sizeof(l->source),
				 "%s: memory.current - inactive_file vs memory.max", s->cgroup_dir);
	if (s->sampled_at == 0)
	{
		snprintf(l->hint, sizeof(l->hint), "not measured yet: measured by the slow part of the sampler");
		return;
	}
	if (isnan(s->cgroup_limit_bytes))
	{
		if (s->cgroup_dir[0] == '\0')
			snprintf(l->hint, sizeof(l->hint), "the postmaster's memory cgroup could not be found");
		else
			snprintf(l->hint, sizeof(l->hint),
					 "no memory limit on the postmaster's cgroup or its ancestors");
		return;
	}
	pps_limit_set(l, s->cgroup_working_set_bytes, s->cgroup_limit_bytes);
	snprintf(l->hint, sizeof(l->hint),
			 "then the kernel OOM-kills in the cgroup and the server restarts; raise MemoryMax= (systemd) or the container's memory limit");
}

/*
 * Huge pages make fork() cheaper (smaller page tables to copy) and cut
 * VmPTE per backend.  The server needs shared_memory_size_in_huge_pages
 * (15+) pages of its huge_page_size in the pool; with huge_pages = try it
 * silently falls back to 4 kB pages, which the postmaster's HugetlbPages
 * reveals.
 */
static void
pps_limits_huge_pages(PpsLimitsReading *r, pid_t pm, const char *meminfo)
{
	PpsLimit   *l = pps_limit_add(r, "huge_pages", "pages");
	const char *needed_s = GetConfigOption("shared_memory_size_in_huge_pages", true, false);
	char		path[128];
	char		status[4096];
	int64		needed;
	int64		default_kb;
	int64		size_kb;
	int64		total;
	int64		free_pages;
	int64		pm_hugetlb_kb = -1;

	if (needed_s == NULL)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "shared_memory_size_in_huge_pages does not exist before PostgreSQL 15");
		return;
	}
	needed = strtoll(needed_s, NULL, 10);
	if (shared_memory_type != SHMEM_TYPE_MMAP)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "shared_memory_type is not mmap: PostgreSQL uses huge pages only with mmap");
		return;
	}
	if (needed < 0)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "the server could not determine its huge page size (shared_memory_size_in_huge_pages = -1)");
		return;
	}
	l->current = needed;
	if (meminfo == NULL || !pps_status_field(meminfo, "Hugepagesize", &default_kb))
	{
		snprintf(l->hint, sizeof(l->hint), "no Hugepagesize in /proc/meminfo: the kernel has no huge pages");
		return;
	}
	size_kb = huge_page_size > 0 ? huge_page_size : default_kb;
	if (size_kb == default_kb)
	{
		if (!pps_status_field(meminfo, "HugePages_Total", &total) ||
			!pps_status_field(meminfo, "HugePages_Free", &free_pages))
		{
			snprintf(l->hint, sizeof(l->hint), "could not read HugePages_Total and HugePages_Free from /proc/meminfo");
			return;
		}
	}
	else
	{
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lldkB/nr_hugepages",
				 (long long) size_kb);
		if (!pps_limits_read_int(path, &total))
		{
			snprintf(l->hint, sizeof(l->hint), "could not read %s: %m", path);
			return;
		}
		snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lldkB/free_hugepages",
				 (long long) size_kb);
		if (!pps_limits_read_int(path, &free_pages))
			free_pages = -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", (int) pm);
	if (pps_read_file(path, status, sizeof(status)) <= 0 ||
		!pps_status_field(status, "HugetlbPages", &pm_hugetlb_kb))
		pm_hugetlb_kb = -1;

	snprintf(l->source, sizeof(l->source),
			 "shared_memory_size_in_huge_pages vs the pool of %lld kB pages (vm.nr_hugepages, %lld free); the postmaster maps %lld kB of them",
			 (long long) size_kb, (long long) free_pages,
			 (long long) pm_hugetlb_kb);
	l->maximum = total;
	if (huge_pages == HUGE_PAGES_OFF)
	{
		snprintf(l->hint, sizeof(l->hint),
				 "huge_pages = off; to use them: sysctl -w vm.nr_hugepages=%lld, huge_pages = on, restart",
				 (long long) needed);
		return;
	}
	pps_limit_set(l, needed, total);
	if (huge_pages == HUGE_PAGES_TRY && pm_hugetlb_kb == 0)
		snprintf(l->hint, sizeof(l->hint),
				 "huge_pages = try fell back to normal pages: sysctl -w vm.nr_hugepages=%lld (at least), then restart",
				 (long long) needed);
	else
		snprintf(l->hint, sizeof(l->hint),
				 "below the need the server does not start (on) or falls back to normal pages (try): sysctl -w vm.nr_hugepages=%lld",
				 (long long) needed);
}


/* ---------- entry points ---------- */

void
pps_limits_collect(const PpsLimitsInput *in, bool include_slow,
				   PpsLimitsReading *r)
{
	char		meminfo[8192];
	const char *mi = NULL;

	if (!pps_limits_slow_initialised)
	{
		memset(&pps_limits_slow, 0, sizeof(pps_limits_slow));
		pps_limits_slow.backend_bytes = get_float8_nan();
		pps_limits_slow.user_tasks = get_float8_nan();
		pps_limits_slow.cgroup_limit_bytes = get_float8_nan();
		pps_limits_slow.cgroup_working_set_bytes = get_float8_nan();
		pps_limits_slow_initialised = true;
	}
	memset(r, 0, sizeof(*r));

	if (pps_read_file("/proc/meminfo", meminfo, sizeof(meminfo)) > 0)
		mi = meminfo;
	if (include_slow)
		pps_limits_refresh_slow(in);

	pps_limits_client_connections(r, in);
	pps_limits_wal_senders(r, in);
	pps_limits_bgworkers(r, in);
	pps_limits_server_processes(r, in);
	pps_limits_listen_backlog(r);
	pps_limits_user_tasks(r, in->postmaster_pid);
	pps_limits_cgroup_pids(r, in->postmaster_pid);
	pps_limits_system_tasks(r);
	pps_limits_files(r, in->postmaster_pid);
	pps_limits_sysv_semaphores(r);
	pps_limits_memory_backends(r, in, mi);
	pps_limits_memory_commit(r, mi);
	pps_limits_cgroup_memory(r);
	pps_limits_huge_pages(r, in->postmaster_pid, mi);

	Assert(r->nlimits == PPS_LIMITS_NROWS);
	r->slow_sampled_at = pps_limits_slow.sampled_at;
}
