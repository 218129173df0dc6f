/*-------------------------------------------------------------------------
 *
 * pps_compat.h
 *	  Every PostgreSQL major-version difference pg_postmaster_stats depends
 *	  on, as small wrappers, so that the rest of the code reads as if there
 *	  were one PostgreSQL.
 *
 * Built with -Werror and tested on PostgreSQL 15, 16, 17, 18 and 19 (the
 * test command builds each; see README.md, "PostgreSQL versions").  14
 * reached its end of life; a newer major is refused until it is tested.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_COMPAT_H
#define PPS_COMPAT_H

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/proc.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 200000
#error "pg_postmaster_stats supports PostgreSQL 15 to 19"
#endif

/*
 * The varlena macros (VARDATA_ANY, which utils/inet.h uses) moved to
 * varatt.h in 16; 19's headers no longer include it for us.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* 19 moved get_database_name() from commands/dbcommands.h to lsyscache.h */
#if PG_VERSION_NUM >= 190000
#include "utils/lsyscache.h"
#else
#include "commands/dbcommands.h"
#endif

/*
 * 18 replaced the trailing pg_attribute_noreturn() with a leading
 * pg_noreturn; an attribute before the declaration works on every major.
 */
#if PG_VERSION_NUM >= 180000
#define pps_noreturn pg_noreturn
#else
#define pps_noreturn pg_attribute_noreturn()
#endif

/*
 * Number of slots in the server's "Backend Status Array" (backend_status.c
 * keeps the macro private).  Auxiliary processes got a fixed PGPROC count of
 * their own in 17.
 */
#if PG_VERSION_NUM >= 170000
#define PPS_BACKEND_STATUS_SLOTS() (MaxBackends + NUM_AUXILIARY_PROCS)
#else
#define PPS_BACKEND_STATUS_SLOTS() (MaxBackends + NUM_AUXPROCTYPES)
#endif

/*
 * Number of BackendType values.  The enum grew and was re-sorted in 16, 17,
 * 18 and 19 (B_LOGGER is not last in 16), so only the server's own count is
 * right; BACKEND_NUM_TYPES exists from 16 on.
 */
#if PG_VERSION_NUM >= 160000
#define PPS_BACKEND_NUM_TYPES BACKEND_NUM_TYPES
#else
#define PPS_BACKEND_NUM_TYPES (B_LOGGER + 1)
#endif

/* Upper bound used to size arrays in shared memory, any version. */
#define PPS_MAX_BACKEND_TYPES 32

StaticAssertDecl(PPS_BACKEND_NUM_TYPES <= PPS_MAX_BACKEND_TYPES,
				 "BackendType grew beyond PPS_MAX_BACKEND_TYPES");

/*
 * bgworker.c keeps its shared array private.  The layout below is the same
 * in 15 through 19 (in_use, terminate, pid, generation, then the worker
 * definition); source_bgworkers.c checks it against the server's size of
 * the segment before reading anything, so a mismatch turns the source off
 * instead of misreading memory.
 */
typedef struct PpsBgwSlot
{
	bool		in_use;
	bool		terminate;
	pid_t		pid;			/* InvalidPid: not started yet; 0: exited */
	uint64		generation;		/* bumped by every dynamic registration */
	BackgroundWorker worker;
} PpsBgwSlot;

typedef struct PpsBgwArray
{
	int			total_slots;
	uint32		parallel_register_count;
	uint32		parallel_terminate_count;
	PpsBgwSlot	slot[FLEXIBLE_ARRAY_MEMBER];
} PpsBgwArray;

#define PPS_BGW_SEGMENT_NAME "Background Worker Data"

/*
 * The size the server gave that segment.  19 registers shared memory
 * through ShmemCallbacks and no longer exports BackgroundWorkerShmemSize();
 * there the size is computed from our layout, and ShmemInitStruct() refuses
 * to attach (ERROR) when the server's entry has another size.
 */
#if PG_VERSION_NUM >= 190000
#define pps_bgw_segment_size() \
	add_size(offsetof(PpsBgwArray, slot), \
			 mul_size(max_worker_processes, sizeof(PpsBgwSlot)))
#else
#define pps_bgw_segment_size() BackgroundWorkerShmemSize()	/* bgworker_internals.h */
#endif

/*
 * Snapshot reuse (GetSnapshotDataReuse, 14 and later): a zero completion
 * count forces GetSnapshotData() to compute the snapshot in full.
 */
#define pps_snapshot_defeat_reuse(snap) ((snap)->snapXactCompletionCount = 0)

/* HotStandbyActive() (xlogrecovery.h from 15 on) */
#include "access/xlogrecovery.h"

/* GUC prefix reservation (MarkGUCPrefixReserved, 15 and later) */
#define pps_mark_guc_prefix_reserved(prefix) MarkGUCPrefixReserved(prefix)

/* the walsender array and the proc array (replay source) */
#include "replication/walsender_private.h"
#include "storage/procarray.h"

/*
 * Physical walsenders (standbys, pg_receivewal).  WalSnd records its kind
 * from 16 on (read under the walsender's spinlock); before, a physical
 * walsender is the one whose PGPROC is connected to no database (looked up
 * after the spinlock is released: BackendPidGetProc takes ProcArrayLock).
 */
#if PG_VERSION_NUM >= 160000
#define pps_walsnd_kind_physical(walsnd) ((walsnd)->kind == REPLICATION_KIND_PHYSICAL)
#else
#define pps_walsnd_kind_physical(walsnd) true
#endif

static inline bool
pps_walsender_is_physical(bool kind_physical, int pid)
{
#if PG_VERSION_NUM >= 160000
	return kind_physical;
#else
	PGPROC	   *proc = BackendPidGetProc(pid);

	return kind_physical && proc != NULL && proc->databaseId == InvalidOid;
#endif
}

/*
 * The recovery prefetcher (15+) keeps its counters in a private struct,
 * "XLogPrefetchStats" in shared memory; the layout below is xlogprefetcher.c's
 * (identical in 15 through 19, and checked by the replay TAP test on each).
 * source_replay.c attaches with ShmemInitStruct and the exact size, which
 * fails instead of misreading if the size differs.
 */
#define PPS_HAVE_RECOVERY_PREFETCH 1
#define PPS_PREFETCH_SEGMENT_NAME "XLogPrefetchStats"

typedef struct PpsXLogPrefetchStats
{
	pg_atomic_uint64 reset_time;
	pg_atomic_uint64 prefetch;	/* prefetches initiated */
	pg_atomic_uint64 hit;		/* blocks already in cache */
	pg_atomic_uint64 skip_init;
	pg_atomic_uint64 skip_new;
	pg_atomic_uint64 skip_fpw;	/* blocks with a full-page image */
	pg_atomic_uint64 skip_rep;
	int			wal_distance;	/* WAL bytes decoded ahead of replay */
	int			block_distance; /* block references ahead */
	int			io_depth;		/* prefetch I/Os in progress */
} PpsXLogPrefetchStats;

/*
 * pg_stat_wal's records and full-page images, straight from the cumulative
 * statistics' shared memory.  18 moved the counters into a wal_counters
 * sub-struct.
 */
#include "utils/pgstat_internal.h"

static inline bool
pps_wal_stats_read(int64 *records, int64 *fpi)
{
	PgStatShared_Wal *wal;

	if (pgStatLocal.shmem == NULL)
		return false;
	wal = &pgStatLocal.shmem->wal;
	LWLockAcquire(&wal->lock, LW_SHARED);
#if PG_VERSION_NUM >= 180000
	*records = wal->stats.wal_counters.wal_records;
	*fpi = wal->stats.wal_counters.wal_fpi;
#else
	*records = wal->stats.wal_records;
	*fpi = wal->stats.wal_fpi;
#endif
	LWLockRelease(&wal->lock);
	return true;
}

/*
 * The local copy of the backend status array (what pg_stat_activity reads),
 * 1-based.  16 renamed the accessor.
 */
#if PG_VERSION_NUM >= 160000
#define PPS_LOCAL_BEENTRY(i) pgstat_get_local_beentry_by_index(i)
#else
#define PPS_LOCAL_BEENTRY(i) pgstat_fetch_stat_local_beentry(i)
#endif

#endif							/* PPS_COMPAT_H */
