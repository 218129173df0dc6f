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
#include <unistd.h>

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
