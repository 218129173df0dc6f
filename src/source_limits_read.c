/*-------------------------------------------------------------------------
 *
 * source_limits_read.c
 *	  Small readers for the limits source: integers from /proc and /sys
 *	  files, key-value fields, GUCs, another process's rlimits, directory
 *	  entries and cgroup paths.  Stack buffers and one read(2) each: these
 *	  run every sample.
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

/* ---------- small readers ---------- */

/*
 * Parse up to n whitespace-separated integers from a small file.  Returns
 * how many were parsed, or -1 if the file could not be read.
 */
int
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

bool
pps_limits_read_int(const char *path, int64 *v)
{
	return pps_limits_read_ints(path, v, 1) == 1;
}

/* "key value" lines, as in memory.stat */
bool
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
int
pps_limits_guc_int(const char *name, int missing)
{
	const char *v = GetConfigOption(name, true, false);

	return v ? (int) strtol(v, NULL, 10) : missing;
}

/* Soft limit of a resource of another process; NaN when unlimited. */
bool
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
bool
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
int64
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

bool
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
bool
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
