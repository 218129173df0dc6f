/*-------------------------------------------------------------------------
 *
 * source_limits.c
 *	  Headroom against every server and kernel limit on the way to very
 *	  many connections.
 *
 * Each row compares what is in use with the limit that refuses the next
 * one, and its hint says what to change, with the command.  The limits are
 * those a server runs into on the way to a million connections (SysV
 * semaphores, pid_max, open files, fork() failing with ENOMEM, about 1 MB
 * per connection), the server's own slot pools, and the cgroup limits that
 * a service manager or a container adds.
 *
 * What counts against what, in PostgreSQL 15:
 * - A client backend takes its PGPROC from a pool of max_connections, in
 *	 InitProcess() before authentication; non-superusers are refused while
 *	 only superuser_reserved_connections (and, from 16, reserved_connections)
 *	 are left.  We count client backends in the backend status array, which
 *	 they join after authentication, so connections still authenticating
 *	 hold a slot without being counted (the history's children_unregistered
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
 * Cost.  The probe worker calls this every sample, so the cheap rows read
 * only small /proc and /sys files (one read(2) each, into stack buffers,
 * source_limits_read.c), make a few prlimit(2) and semctl(2) calls and read GUC
 * variables.  Three measurements grow with the number of processes and run
 * only when the caller asks for the slow part (source_limits_slow.c): memory per
 * backend (smaps_rollup walks each sampled backend's page tables), the
 * server user's task count (a scan of /proc) and the memory cgroup's working
 * set (memory.stat flushes the cgroup's statistics).  Between two slow calls
 * the last measurement is reused from this process's memory.
 *
 * Errors.  The worker must not ERROR here: a file that cannot be read or
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
#include "source_limits_internal.h"

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
			 "tasks of uid %d in /proc (%s%s, %s %lld of %lld processes) vs RLIMIT_NPROC (/proc/%d/limits)",
			 (int) getuid(), s->sampled_at ? "at " : "not counted yet",
			 s->sampled_at ? timestamptz_to_str(s->sampled_at) : "",
			 s->user_sampled < s->user_procs ? "scaled from" : "all",
			 (long long) s->user_sampled, (long long) s->user_procs, (int) pm);
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
		snprintf(l->hint, sizeof(l->hint), "not counted yet: counted every 10 s by the probe worker");
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
		snprintf(l->hint, sizeof(l->hint), "not measured yet: measured every 10 s by the probe worker");
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
		snprintf(l->hint, sizeof(l->hint), "not measured yet: measured every 10 s by the probe worker");
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

/*
 * Rows that compare two settings rather than a usage with its limit: their
 * headroom does not move with load, so they never count as the tightest.
 */
bool
pps_limit_is_setting(const char *name)
{
	return strcmp(name, "backend_open_files") == 0 ||
		strcmp(name, "listen_backlog") == 0 ||
		strcmp(name, "huge_pages") == 0;
}
