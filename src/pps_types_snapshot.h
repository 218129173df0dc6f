/*-------------------------------------------------------------------------
 *
 * pps_types_snapshot.h
 *	  The result of the snapshot probe (source_snapshot.c), as shared
 *	  memory keeps it (pps_shmem.h): plain data, no functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_TYPES_SNAPSHOT_H
#define PPS_TYPES_SNAPSHOT_H

#include "datatype/timestamp.h"

/* Result of one probe: a batch of snapshots taken back to back. */
typedef struct PpsSnapshotProbe
{
	TimestampTz time;
	int32		calls;			/* snapshots in the batch */
	double		ns_median;		/* per snapshot */
	double		ns_max;
	int32		xcnt;			/* running top-level xids in the snapshot */
	int32		subxcnt;		/* cached subtransaction xids */
	bool		suboverflowed;	/* some backend's subxid cache overflowed */
	bool		in_recovery;	/* taken on a hot standby */
	int32		procs_in_use;	/* proc array entries: what the loop scans */
	int64		oldest_xid_age; /* next xid minus the snapshot's xmin */
} PpsSnapshotProbe;

#endif							/* PPS_TYPES_SNAPSHOT_H */
