/*-------------------------------------------------------------------------
 *
 * source_snapshot.h
 *	  What taking an MVCC snapshot (GetSnapshotData) costs right now.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_SNAPSHOT_H
#define SOURCE_SNAPSHOT_H

#include "pps_histogram.h"
#include "pps_types_snapshot.h"

/* Also records the time of every snapshot in the batch into hist. */
extern void pps_snapshot_probe(PpsSnapshotProbe *out, PpsHistogram *hist);

#endif							/* SOURCE_SNAPSHOT_H */
