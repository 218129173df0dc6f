/*-------------------------------------------------------------------------
 *
 * source_replay.h
 *	  WAL replay on a standby (lag, rates, the startup process's CPU,
 *	  capacity and headroom) and WAL generation and standbys on a primary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SOURCE_REPLAY_H
#define SOURCE_REPLAY_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

#include "pps_types_replay.h"

/*
 * Replay capacity (replay rate / the startup process's CPU fraction) is only
 * estimated when the startup process was on CPU at least this much of the
 * interval.  Below it the process mostly sleeps waiting for WAL, and the
 * little work it does is dominated by per-wakeup costs, so extrapolating it
 * to a full core would be a guess (at 20% the extrapolation is 5x).
 */
#define PPS_REPLAY_CAPACITY_MIN_CPU_PCT 20.0

/* One reading of the server's state; rates come from two of them. */
typedef struct PpsReplayReading
{
	bool		in_recovery;

	/* standby */
	XLogRecPtr	written;		/* WAL receiver: written */
	XLogRecPtr	flushed;		/* ... and flushed */
	XLogRecPtr	replayed;
	TimestampTz last_xact_time;
	bool		paused;
	bool		walrcv_streaming;
	int			startup_pid;	/* 0: not found, -1: status array unreadable */
	bool		startup_cpu_ok;
	uint64		startup_ns;		/* on CPU */
	uint64		startup_wait_ns;	/* runnable, waiting for a CPU */
	bool		prefetch_ok;
	uint64		prefetch;
	uint64		prefetch_hit;
	uint64		prefetch_skip_fpw;
	int			prefetch_wal_distance;
	int			prefetch_block_distance;
	int			prefetch_io_depth;

	/* primary */
	XLogRecPtr	insert;
	bool		wal_stats_ok;
	int64		wal_records;
	int64		wal_fpi;

	int			standbys;		/* primary: physical walsenders */
} PpsReplayReading;

/* A physical walsender as seen by the SQL function (read live). */
typedef struct PpsWalSender
{
	int			pid;
	int			state;			/* WalSndState */
	XLogRecPtr	sent;
	XLogRecPtr	write;
	XLogRecPtr	flush;
	XLogRecPtr	apply;
	int64		apply_lag_us;	/* -1: unknown */
} PpsWalSender;

/* room for the reason a part of the reading is unavailable */
#define PPS_REPLAY_ERR_LEN 256

extern bool pps_replay_read(PpsReplayReading *r, char *err, size_t errlen);
extern void pps_replay_compute(const PpsReplayReading *cur, const PpsReplayReading *old,
							   double seconds, TimestampTz now, PpsReplayState *st);
extern const char *pps_replay_startup_error(void);
extern const char *pps_replay_prefetch_error(void);
extern int	pps_replay_walsenders(PpsWalSender *out, int max);
extern const char *pps_replay_state_name(int state);

#endif							/* SOURCE_REPLAY_H */
