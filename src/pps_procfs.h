/*-------------------------------------------------------------------------
 *
 * pps_procfs.h
 *	  Allocation-free helpers to read small /proc files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_PROCFS_H
#define PPS_PROCFS_H

#include <sys/types.h>

extern ssize_t pps_read_file(const char *path, char *buf, size_t bufsize);

/*
 * A file the sampler reads every tick, kept open between reads.  Opening a
 * /proc or cgroup file walks its path (for /proc/<pid>, a lookup of the
 * task) and allocates a struct file; with caches cold after a second's
 * sleep that is most of the read's cost.  A read from offset 0 of the open
 * file makes the kernel generate the text afresh.  Only the kernel's own
 * files are kept open (a regular file can be replaced by a rename).
 */
typedef struct PpsOpenFile
{
	int			fd;				/* -1: not open */
	char		path[MAXPGPATH];
} PpsOpenFile;

#define PPS_OPEN_FILE_INIT {-1, ""}

extern ssize_t pps_read_open_file(PpsOpenFile *f, const char *path,
								  char *buf, size_t bufsize);
extern void pps_close_open_file(PpsOpenFile *f);
extern bool pps_status_field(const char *status, const char *key, int64 *value);

#endif							/* PPS_PROCFS_H */
