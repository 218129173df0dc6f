/*-------------------------------------------------------------------------
 *
 * source_limits_internal.h
 *	  What the files of the limits source share: the readers
 *	  (source_limits_read.c), the slow measurements (source_limits_slow.c) and the rows
 *	  (source_limits.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_LIMITS_INTERNAL_H
#define SOURCE_LIMITS_INTERNAL_H

#include <sys/types.h>
#include <time.h>

#include "source_limits.h"

#define PPS_LIMITS_NROWS 18
StaticAssertDecl(PPS_LIMITS_NROWS <= PPS_MAX_LIMITS,
				 "PPS_MAX_LIMITS is too small for the limit rows");

/* Memory per backend: at most this many backends, for at most this long. */
#define PPS_LIMITS_PSS_SAMPLE 16
#define PPS_LIMITS_PSS_BUDGET_NS (20 * 1000 * 1000)
/* User tasks: look at most at this many of /proc's processes, and scale. */
#define PPS_LIMITS_TASK_SAMPLE 512

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
	int64		user_procs;		/* processes in /proc */
	int64		user_sampled;	/* ... looked at; fewer: user_tasks scaled */
	char		user_err[PPS_LIMIT_TEXT_LEN];

	/* the memory cgroup level with the least headroom */
	double		cgroup_limit_bytes; /* NaN: no limit found */
	double		cgroup_working_set_bytes;
	bool		cgroup_v1;
	char		cgroup_dir[MAXPGPATH];
} PpsLimitsSlow;

extern PpsLimitsSlow pps_limits_slow;
extern bool pps_limits_slow_initialised;

/* source_limits_read.c */
extern int pps_limits_read_ints(const char *path, int64 *v, int n);
extern bool pps_limits_read_int(const char *path, int64 *v);
extern bool pps_limits_kv_field(const char *text, const char *key, int64 *value);
extern int pps_limits_guc_int(const char *name, int missing);
extern bool pps_limits_rlimit(pid_t pid, int resource, double *soft, char *err, size_t errlen);
extern bool pps_limits_each_entry(int dfd, void (*visit) (int dfd, const char *name, void *arg), void *arg);
extern int64 pps_limits_count_dir(const char *path);
extern bool pps_limits_cgroup_dir(pid_t pm, const char *controller, char *dir, size_t dirlen, size_t *baselen, bool *v1);
extern bool pps_limits_cgroup_up(char *dir, size_t baselen);

/* source_limits_slow.c */
extern void pps_limits_refresh_slow(const PpsLimitsInput *in);

#endif							/* SOURCE_LIMITS_INTERNAL_H */
