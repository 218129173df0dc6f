/*-------------------------------------------------------------------------
 *
 * source_snapshot.c
 *	  What taking an MVCC snapshot (GetSnapshotData) costs right now.
 *
 * Every statement (and, under REPEATABLE READ, every transaction) takes a
 * snapshot; its cost grows with the number of PGPROC entries the proc
 * array has to scan, idle connections included, and jumps when a backend's
 * subtransaction cache overflows.  The probe times a batch of full
 * GetSnapshotData() calls on a private SnapshotData, inside the probe
 * worker's transaction.
 *
 * Since PostgreSQL 14 a backend reuses its previous snapshot when no
 * transaction has completed since (GetSnapshotDataReuse, keyed on
 * snapXactCompletionCount).  The probe clears that key before each call so
 * that it always measures the full computation: the price every backend
 * pays for its next snapshot after any commit.
 *
 * Budget: at most PPS_SNAPSHOT_CALLS calls and PPS_SNAPSHOT_BUDGET_NS of
 * snapshot time per probe, so at the default 1 s interval the probe stays
 * far below 1% of one core even with thousands of connections.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/transam.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#include "pps_compat.h"
#include "source_children.h"
#include "source_snapshot.h"

#define PPS_SNAPSHOT_CALLS 64
#define PPS_SNAPSHOT_BUDGET_NS (2 * 1000 * 1000)

/* GetSnapshotData() allocates xip/subxip (malloc) on first use and keeps them */
static SnapshotData pps_snapshot;

static int64
pps_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
pps_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Called inside a transaction of the probe worker. */
void
pps_snapshot_probe(PpsSnapshotProbe *out, PpsHistogram *hist)
{
	int64		ns[PPS_SNAPSHOT_CALLS];
	int64		spent = 0;
	int			calls = 0;
	FullTransactionId next;

	memset(out, 0, sizeof(*out));
	pps_snapshot.snapshot_type = SNAPSHOT_MVCC;

	while (calls < PPS_SNAPSHOT_CALLS && spent < PPS_SNAPSHOT_BUDGET_NS)
	{
		int64		start;

		pps_snapshot_defeat_reuse(&pps_snapshot);
		start = pps_now_ns();
		GetSnapshotData(&pps_snapshot);
		ns[calls] = pps_now_ns() - start;
		spent += ns[calls];
		calls++;
	}

	next = ReadNextFullTransactionId();
	out->time = GetCurrentTimestamp();
	out->calls = calls;
	out->xcnt = (int32) pps_snapshot.xcnt;
	out->subxcnt = (int32) pps_snapshot.subxcnt;
	out->suboverflowed = pps_snapshot.suboverflowed;
	out->in_recovery = pps_snapshot.takenDuringRecovery;
	out->procs_in_use = pps_children_in_procarray();
	out->oldest_xid_age = TransactionIdIsNormal(pps_snapshot.xmin) ?
		(int64) (uint32) (XidFromFullTransactionId(next) - pps_snapshot.xmin) : 0;

	/*
	 * On a standby the snapshot keeps subxids in xip and reports xcnt 0 with
	 * subxcnt holding everything (KnownAssignedXids); say so via in_recovery.
	 */
	for (int i = 0; i < calls; i++)
		pps_hist_record(hist, (uint64) ns[i]);
	qsort(ns, calls, sizeof(int64), pps_cmp_int64);
	out->ns_median = calls % 2 ? ns[calls / 2] : (ns[calls / 2 - 1] + ns[calls / 2]) / 2.0;
	out->ns_max = ns[calls - 1];
}
