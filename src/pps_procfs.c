/*-------------------------------------------------------------------------
 *
 * pps_procfs.c
 *	  Allocation-free helpers to read small /proc files.
 *
 * The sampler reads a handful of /proc files every tick; plain read(2) into
 * a stack buffer keeps that path free of stdio buffers and palloc.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "storage/fd.h"

#include "pps_procfs.h"

/*
 * Read up to bufsize - 1 bytes of path into buf and NUL-terminate it.
 * Returns the length, or -1 with errno set.
 */
ssize_t
pps_read_file(const char *path, char *buf, size_t bufsize)
{
	int			fd;
	size_t		len = 0;
	int			save_errno;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len < bufsize - 1)
	{
		ssize_t		n = read(fd, buf + len, bufsize - 1 - len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			save_errno = errno;
			close(fd);
			errno = save_errno;
			return -1;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t) len;
}

/* Read the whole open file from offset 0; -1 with errno set on error. */
static ssize_t
pps_pread_all(int fd, char *buf, size_t bufsize)
{
	size_t		len = 0;

	while (len < bufsize - 1)
	{
		ssize_t		n = pread(fd, buf + len, bufsize - 1 - len, (off_t) len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		len += n;

		/*
		 * The kernel generates these small files whole into a read that
		 * has room for them: a short read is the end, and asking again
		 * would only cost another system call to learn it.
		 */
		if ((size_t) n < bufsize - 1 - (len - n))
			break;
	}
	buf[len] = '\0';
	return (ssize_t) len;
}

/*
 * Whether fd is a file the kernel generates (/proc, sysfs, a cgroup
 * hierarchy).  Only those are kept open: a regular file, such as a
 * fixture behind pg_postmaster_stats.cgroup_cpu_dir, may be replaced by a
 * rename, and an open descriptor would go on reading the old one.
 */
static bool
pps_kernel_file(int fd)
{
	struct statfs st;

	if (fstatfs(fd, &st) != 0)
		return false;
	return st.f_type == PROC_SUPER_MAGIC || st.f_type == SYSFS_MAGIC ||
		st.f_type == CGROUP_SUPER_MAGIC || st.f_type == CGROUP2_SUPER_MAGIC;
}

void
pps_close_open_file(PpsOpenFile *f)
{
	if (f->fd >= 0)
	{
		close(f->fd);
		ReleaseExternalFD();
	}
	f->fd = -1;
	f->path[0] = '\0';
}

/*
 * pps_read_file() of path through f, which keeps the file open for the
 * next call with the same path.  A failed read of the open file (the
 * process exited, the cgroup was removed) closes it and tries the path
 * once more, so that a new file under the same name is found.  When
 * PostgreSQL's budget of descriptors is spent, or the path does not fit,
 * the file is opened for this read only.
 */
ssize_t
pps_read_open_file(PpsOpenFile *f, const char *path, char *buf, size_t bufsize)
{
	ssize_t		len;
	int			save_errno;

	if (f->fd >= 0 && strcmp(f->path, path) == 0)
	{
		len = pps_pread_all(f->fd, buf, bufsize);
		if (len >= 0)
			return len;
	}
	pps_close_open_file(f);
	if (strlen(path) >= sizeof(f->path) || !AcquireExternalFD())
		return pps_read_file(path, buf, bufsize);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
	{
		save_errno = errno;
		ReleaseExternalFD();
		errno = save_errno;
		return -1;
	}
	strlcpy(f->path, path, sizeof(f->path));
	len = pps_pread_all(f->fd, buf, bufsize);
	save_errno = errno;
	if (len < 0 || !pps_kernel_file(f->fd))
		pps_close_open_file(f);
	errno = save_errno;
	return len;
}

/*
 * Find "key:" at the start of a line of a /proc/<pid>/status text and parse
 * the number after it (kB fields stay in kB).
 */
bool
pps_status_field(const char *status, const char *key, int64 *value)
{
	size_t		keylen = strlen(key);
	const char *p = status;

	while (p && *p)
	{
		if (strncmp(p, key, keylen) == 0 && p[keylen] == ':')
		{
			char	   *end;
			long long	v = strtoll(p + keylen + 1, &end, 10);

			if (end == p + keylen + 1)
				return false;
			*value = (int64) v;
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}
