/*-------------------------------------------------------------------------
 *
 * source_cgroup.c
 *	  The postmaster's CPU cgroup: quota and throttling.
 *
 * A container platform or systemd's CPUQuota= caps the CPU time of the
 * server's cgroup per enforcement period (100 ms by default); once the
 * cgroup has used its quota, the kernel stops every task in it until the
 * next period, the postmaster included.  Such a server looks idle and slow
 * at once.  The kernel counts this in the cgroup's cpu.stat; this file finds
 * the cgroup and reads it.
 *
 * Both hierarchies: cgroup v1, where the "cpu" controller has a hierarchy
 * of its own (cpu.cfs_quota_us, cpu.cfs_period_us, cpu.stat nr_periods,
 * nr_throttled, throttled_time in ns), and the unified v2 hierarchy
 * (cpu.max "max 100000" or "50000 100000", cpu.stat nr_periods,
 * nr_throttled, throttled_usec).  On a hybrid host the cpu controller is
 * where /proc/<pid>/cgroup lists it: a v1 line naming it wins over the v2
 * line, whose hierarchy then has no cpu controller.
 *
 * The path in /proc/<postmaster>/cgroup is read every call, since the
 * postmaster may be moved into another cgroup after it started (children
 * forked afterwards inherit the new one).  Where the hierarchies are
 * mounted comes from /proc/self/mountinfo (the sampler shares the
 * postmaster's mount namespace); that file can be long on busy hosts, so
 * it is parsed once and again only when a cgroup directory cannot be read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>

#include "pps_procfs.h"
#include "source_cgroup.h"

/* Where a hierarchy is mounted: mountinfo's root (within it) and mount point. */
typedef struct PpsCgroupMount
{
	bool		found;
	char		root[MAXPGPATH];
	char		point[MAXPGPATH];
} PpsCgroupMount;

static bool mounts_loaded = false;
static PpsCgroupMount mount_v1cpu;
static PpsCgroupMount mount_v2;

void
pps_cgroup_forget_mounts(void)
{
	mounts_loaded = false;
}

/* Is word one of the comma-separated items of list? */
static bool
pps_cgroup_in_list(const char *list, const char *word)
{
	size_t		len = strlen(word);
	const char *p = list;

	while (p && *p)
	{
		const char *comma = strchr(p, ',');
		size_t		itemlen = comma ? (size_t) (comma - p) : strlen(p);

		if (itemlen == len && strncmp(p, word, len) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void
pps_cgroup_unescape(char *dst, const char *src, size_t dstlen)
{
	size_t		n = 0;

	while (*src && n + 1 < dstlen)
	{
		if (src[0] == '\\' && src[1] >= '0' && src[1] <= '3' &&
			src[2] >= '0' && src[2] <= '7' && src[3] >= '0' && src[3] <= '7')
		{
			dst[n++] = (char) ((src[1] - '0') * 64 + (src[2] - '0') * 8 + (src[3] - '0'));
			src += 4;
		}
		else
			dst[n++] = *src++;
	}
	dst[n] = '\0';
}

/*
 * One mountinfo line: "id parent maj:min root point options [optional...]
 * - fstype source superoptions".  Keeps the first mount of the v1 cpu
 * hierarchy and of the v2 hierarchy.
 */
static void
pps_cgroup_mount_line(char *line)
{
	char	   *field[6];
	char	   *sep;
	char	   *fstype;
	char	   *superopts;
	char	   *save = NULL;
	PpsCgroupMount *m;

	sep = strstr(line, " - ");
	if (sep == NULL)
		return;
	*sep = '\0';
	for (int i = 0; i < 6; i++)
	{
		field[i] = strtok_r(i == 0 ? line : NULL, " ", &save);
		if (field[i] == NULL)
			return;
	}
	save = NULL;
	fstype = strtok_r(sep + 3, " ", &save);
	(void) strtok_r(NULL, " ", &save);	/* source */
	superopts = strtok_r(NULL, " \n", &save);
	if (fstype == NULL)
		return;
	if (strcmp(fstype, "cgroup2") == 0)
		m = &mount_v2;
	else if (strcmp(fstype, "cgroup") == 0 && superopts &&
			 pps_cgroup_in_list(superopts, "cpu"))
		m = &mount_v1cpu;
	else
		return;
	if (m->found)
		return;
	pps_cgroup_unescape(m->root, field[3], sizeof(m->root));
	pps_cgroup_unescape(m->point, field[4], sizeof(m->point));
	m->found = true;
}

static bool
pps_cgroup_load_mounts(char *err, size_t errlen)
{
	FILE	   *f;
	char		line[2 * MAXPGPATH + 512];
	bool		partial = false;

	if (mounts_loaded)
		return true;
	memset(&mount_v1cpu, 0, sizeof(mount_v1cpu));
	memset(&mount_v2, 0, sizeof(mount_v2));
	f = fopen("/proc/self/mountinfo", "r");
	if (f == NULL)
	{
		snprintf(err, errlen, "could not open /proc/self/mountinfo: %m");
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		bool		whole = strchr(line, '\n') != NULL;

		/* the rest of a line longer than the buffer is skipped */
		if (!partial)
			pps_cgroup_mount_line(line);
		partial = !whole;
	}
	fclose(f);
	mounts_loaded = true;
	return true;
}

/*
 * From /proc/<pid>/cgroup ("id:controllers:path" lines), the path in the
 * v1 hierarchy that has the cpu controller, or else the v2 path.
 */
static bool
pps_cgroup_path(pid_t pid, char *path, size_t pathlen, int *version,
				char *err, size_t errlen)
{
	char		file[64];
	char		buf[4096];
	char	   *line;
	char	   *save = NULL;
	bool		have_v2 = false;

	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int) pid);
	if (pps_read_file(file, buf, sizeof(buf)) < 0)
	{
		snprintf(err, errlen, "could not read %s: %m", file);
		return false;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *c1 = strchr(line, ':');
		char	   *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 == NULL)
			continue;
		*c2 = '\0';
		if (c2 == c1 + 1 && strncmp(line, "0:", 2) == 0)
		{
			/* v2 is used only if no v1 line has the cpu controller */
			strlcpy(path, c2 + 1, pathlen);
			have_v2 = true;
		}
		else if (pps_cgroup_in_list(c1 + 1, "cpu") && mount_v1cpu.found)
		{
			strlcpy(path, c2 + 1, pathlen);
			*version = 1;
			return true;
		}
	}
	if (have_v2 && mount_v2.found)
	{
		*version = 2;
		return true;
	}
	snprintf(err, errlen,
			 "no CPU cgroup for pid %d: neither a mounted v1 hierarchy with the cpu controller nor a mounted cgroup2 hierarchy in %s and /proc/self/mountinfo",
			 (int) pid, file);
	return false;
}

/* Value of "key value" at the start of a line of cpu.stat; 0 if absent. */
static uint64
pps_cgroup_stat_field(const char *text, const char *key)
{
	size_t		len = strlen(key);
	const char *p = text;

	while (p && *p)
	{
		if (strncmp(p, key, len) == 0 && p[len] == ' ')
			return strtoull(p + len + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

bool
pps_cgroup_cpu_read_stat(PpsCgroupCpu *c, char *err, size_t errlen)
{
	/* read every tick, so kept open (pps_procfs.h) */
	static PpsOpenFile stat_file = PPS_OPEN_FILE_INIT;
	char		path[MAXPGPATH + 16];
	char		buf[1024];

	snprintf(path, sizeof(path), "%s/cpu.stat", c->dir);
	if (pps_read_open_file(&stat_file, path, buf, sizeof(buf)) < 0)
	{
		snprintf(err, errlen, "could not read %s: %m", path);
		return false;
	}
	c->nr_periods = pps_cgroup_stat_field(buf, "nr_periods");
	c->nr_throttled = pps_cgroup_stat_field(buf, "nr_throttled");
	if (c->version == 1)
		c->throttled_ns = pps_cgroup_stat_field(buf, "throttled_time");
	else
		c->throttled_ns = pps_cgroup_stat_field(buf, "throttled_usec") * 1000;
	return true;
}

/*
 * The quota of one cgroup directory.  Returns false if the version's quota
 * file is missing (a v2 root, or the cpu controller not enabled there);
 * *limited says whether it caps anything.
 */
static bool
pps_cgroup_read_quota(const char *dir, int version, bool *limited,
					  int64 *quota_us, int64 *period_us)
{
	char		path[MAXPGPATH + 24];
	char		buf[128];
	char	   *end;

	*limited = false;
	if (version == 2)
	{
		/* "max 100000" or "50000 100000" */
		snprintf(path, sizeof(path), "%s/cpu.max", dir);
		if (pps_read_file(path, buf, sizeof(buf)) <= 0)
			return false;
		if (strncmp(buf, "max", 3) == 0)
			return true;
		*quota_us = strtoll(buf, &end, 10);
		*period_us = strtoll(end, NULL, 10);
	}
	else
	{
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
		if (pps_read_file(path, buf, sizeof(buf)) <= 0)
			return false;
		*quota_us = strtoll(buf, NULL, 10);	/* -1: no quota */
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
		if (pps_read_file(path, buf, sizeof(buf)) <= 0)
			return false;
		*period_us = strtoll(buf, NULL, 10);
	}
	*limited = *quota_us > 0 && *period_us > 0;
	return true;
}

bool
pps_cgroup_cpu_read_dir(const char *dir, PpsCgroupCpu *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	strlcpy(out->dir, dir, sizeof(out->dir));
	out->levels = 1;
	out->version = 2;
	if (!pps_cgroup_read_quota(dir, 2, &out->limited, &out->quota_us, &out->period_us))
	{
		out->version = 1;
		if (!pps_cgroup_read_quota(dir, 1, &out->limited, &out->quota_us, &out->period_us))
		{
			snprintf(err, errlen,
					 "neither cpu.max (cgroup v2) nor cpu.cfs_quota_us and cpu.cfs_period_us (cgroup v1) could be read in %s: %m",
					 dir);
			return false;
		}
	}
	return pps_cgroup_cpu_read_stat(out, err, errlen);
}

/* The directory of cgroup path in the mounted hierarchy m. */
static bool
pps_cgroup_dir_of(const PpsCgroupMount *m, const char *path, char *dir, size_t dirlen,
				  char *err, size_t errlen)
{
	size_t		rootlen = strlen(m->root);
	const char *rel = path;

	if (strcmp(m->root, "/") != 0)
	{
		/* a mount of a sub-tree (a container's own cgroup bind-mounted) */
		if (strncmp(path, m->root, rootlen) != 0 ||
			(path[rootlen] != '\0' && path[rootlen] != '/'))
		{
			snprintf(err, errlen,
					 "cgroup %s is outside the part %s of its hierarchy mounted at %s; set pg_postmaster_stats.cgroup_cpu_dir to its directory",
					 path, m->root, m->point);
			return false;
		}
		rel = path + rootlen;
	}
	if (strcmp(rel, "/") == 0)
		rel = "";
	snprintf(dir, dirlen, "%s%s", m->point, rel);
	return true;
}

bool
pps_cgroup_cpu_read(pid_t pid, PpsCgroupCpu *out, char *err, size_t errlen)
{
	char		path[MAXPGPATH];
	char		dir[MAXPGPATH];
	int			version = 0;
	const PpsCgroupMount *m;
	size_t		toplen;
	double		best = 0;

	memset(out, 0, sizeof(*out));
	if (!pps_cgroup_load_mounts(err, errlen) ||
		!pps_cgroup_path(pid, path, sizeof(path), &version, err, errlen))
		return false;
	m = version == 1 ? &mount_v1cpu : &mount_v2;
	if (!pps_cgroup_dir_of(m, path, dir, sizeof(dir), err, errlen))
		return false;

	out->version = version;
	strlcpy(out->dir, dir, sizeof(out->dir));	/* unless an ancestor is tighter */
	toplen = strlen(m->point);
	for (;;)
	{
		bool		limited;
		int64		quota;
		int64		period;
		char	   *slash;

		out->levels++;
		if (pps_cgroup_read_quota(dir, version, &limited, &quota, &period) && limited &&
			(!out->limited || (double) quota / period < best))
		{
			out->limited = true;
			out->quota_us = quota;
			out->period_us = period;
			best = (double) quota / period;
			strlcpy(out->dir, dir, sizeof(out->dir));
		}
		slash = strrchr(dir, '/');
		if (strlen(dir) <= toplen || slash == NULL || slash < dir + toplen)
			break;
		*slash = '\0';
	}

	if (!pps_cgroup_cpu_read_stat(out, err, errlen))
	{
		/* moved mounts, or a cgroup removed under us: look again next time */
		pps_cgroup_forget_mounts();
		return false;
	}
	return true;
}
