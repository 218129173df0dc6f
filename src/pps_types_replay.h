/*-------------------------------------------------------------------------
 *
 * pps_types_replay.h
 *	  The state the replay source (source_replay.c) computes each tick, as
 *	  shared memory keeps it (pps_shmem.h): plain data, no functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_TYPES_REPLAY_H
#define PPS_TYPES_REPLAY_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

typedef enum PpsReplayStateCode
{
	PPS_REPLAY_UNKNOWN = 0,		/* no previous sample, or nothing streamed */
	PPS_REPLAY_CAUGHT_UP,
	PPS_REPLAY_CATCHING_UP,
	PPS_REPLAY_FALLING_BEHIND,
	PPS_REPLAY_PAUSED
} PpsReplayStateCode;

/*
 * The latest reading of the replay source, published by the sampler every
 * tick (pps_shmem_replay_publish).  Doubles are NaN and LSNs InvalidXLogRecPtr
 * when unknown or not applicable to the server's role.
 */
typedef struct PpsReplayState
{
	TimestampTz time;			/* of the sample; 0: never published */
	bool		in_recovery;

	/* standby: local replay */
	XLogRecPtr	received_lsn;	/* written by the WAL receiver */
	XLogRecPtr	flushed_lsn;	/* ... and flushed: pg_last_wal_receive_lsn() */
	XLogRecPtr	replayed_lsn;	/* pg_last_wal_replay_lsn() */
	int64		lag_bytes;		/* received - replayed; -1: nothing streamed */
	double		lag_seconds;
	TimestampTz last_xact_time; /* pg_last_xact_replay_timestamp(); 0: none */
	bool		paused;			/* pause requested or in effect */
	double		receive_bytes_per_s;
	double		replay_bytes_per_s;
	int32		startup_pid;	/* 0: not found */
	double		startup_cpu_pct;
	double		startup_cpu_wait_pct;	/* runnable, waiting for a CPU */
	double		capacity_bytes_per_s;
	double		headroom;
	double		catchup_seconds;
	PpsReplayStateCode state;
	bool		prefetch_ok;	/* PG15+ recovery prefetcher counters */
	double		prefetch_per_s;
	double		prefetch_hit_per_s;
	double		prefetch_skip_fpw_per_s;
	int32		prefetch_wal_distance;
	int32		prefetch_block_distance;
	int32		prefetch_io_depth;

	/* primary: WAL generation */
	XLogRecPtr	insert_lsn;
	double		wal_generated_bytes_per_s;
	double		wal_records_per_s;	/* pg_stat_wal, PG15+ */
	double		wal_fpi_per_s;
} PpsReplayState;

#endif							/* PPS_TYPES_REPLAY_H */
