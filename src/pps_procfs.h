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
extern bool pps_status_field(const char *status, const char *key, int64 *value);

#endif							/* PPS_PROCFS_H */
