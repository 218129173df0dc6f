/*-------------------------------------------------------------------------
 *
 * pps_sql_replay.c
 *	  SQL function behind pg_postmaster_stats_replay.
 *
 * Rows depend on the server's role, decided at query time:
 *
 * - in recovery: one "local_replay" row, the sampler's latest reading
 *	 (computed by source_replay.c, published by pps_worker_replay.c), so
 *	 that its positions, lag, rates and state are one consistent sample;
 * - one "standby" row per physical walsender (a standby or pg_receivewal
 *	 streaming from this server, base backups excluded), read live from the
 *	 walsender array, each under its spinlock: on a primary that is a
 *	 handful of spinlocks per query, and a row never lags behind the
 *	 standby's last reply by a sample.
 *
 * A server that is neither (no recovery, nobody streaming) returns no rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "replication/walsender.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "pps_compat.h"
#include "pps_shmem.h"
#include "pps_sql.h"
#include "source_replay.h"

PPS_SQL_FUNCTION(pg_postmaster_stats_replay)

/* columns from "state" to "prefetch_io_depth": NULL on standby rows */
#define PPS_REPLAY_LOCAL_ONLY_COLUMNS 17

static void
pps_row_lsn(PpsRow *row, XLogRecPtr lsn)
{
	pps_row_put(row, XLogRecPtrIsInvalid(lsn), LSNGetDatum(lsn));
}

static void
pps_row_text(PpsRow *row, const char *s)
{
	pps_row_put(row, s == NULL, s ? CStringGetTextDatum(s) : (Datum) 0);
}

/* The names pg_stat_replication uses. */
static const char *
pps_replay_walsender_state_name(int state)
{
	switch ((WalSndState) state)
	{
		case WALSNDSTATE_STARTUP:
			return "startup";
		case WALSNDSTATE_BACKUP:
			return "backup";
		case WALSNDSTATE_CATCHUP:
			return "catchup";
		case WALSNDSTATE_STREAMING:
			return "streaming";
		case WALSNDSTATE_STOPPING:
			return "stopping";
	}
	return "unknown";
}

/*
 * application_name of a walsender, from this backend's copy of the status
 * array (built once per transaction, as for pg_stat_activity); NULL if it
 * is gone.  Only queries that return standby rows pay for the copy.
 */
static const char *
pps_replay_appname(int pid)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *l = PPS_LOCAL_BEENTRY(i);

		if (l != NULL && l->backendStatus.st_procpid == pid)
			return l->backendStatus.st_appname;
	}
	return NULL;
}

static void
pps_replay_local_row(Tuplestorestate *store, TupleDesc tupdesc, const PpsReplayState *st)
{
	PpsRow		row;

	pps_row_start(&row, tupdesc);
	pps_row_text(&row, "local_replay");
	pps_row_put(&row, false, TimestampTzGetDatum(st->time));
	pps_row_put(&row, true, (Datum) 0); /* walsender_pid */
	pps_row_put(&row, true, (Datum) 0); /* walsender_state */
	pps_row_put(&row, true, (Datum) 0); /* sent_lsn */
	pps_row_lsn(&row, st->received_lsn);
	pps_row_lsn(&row, st->flushed_lsn);
	pps_row_lsn(&row, st->replayed_lsn);
	pps_row_int8(&row, true, st->lag_bytes);
	pps_row_float(&row, true, st->lag_seconds);
	pps_row_text(&row, pps_replay_state_name(st->state));
	pps_row_put(&row, false, BoolGetDatum(st->paused));
	pps_row_put(&row, st->last_xact_time == 0, TimestampTzGetDatum(st->last_xact_time));
	pps_row_float(&row, true, st->receive_bytes_per_s);
	pps_row_float(&row, true, st->replay_bytes_per_s);
	pps_row_int4(&row, st->startup_pid > 0, st->startup_pid);
	pps_row_float(&row, true, st->startup_cpu_pct);
	pps_row_float(&row, true, st->startup_cpu_wait_pct);
	pps_row_float(&row, true, st->capacity_bytes_per_s);
	pps_row_float(&row, true, st->headroom);
	pps_row_float(&row, true, st->catchup_seconds);
	pps_row_float(&row, st->prefetch_ok, st->prefetch_per_s);
	pps_row_float(&row, st->prefetch_ok, st->prefetch_hit_per_s);
	pps_row_float(&row, st->prefetch_ok, st->prefetch_skip_fpw_per_s);
	pps_row_int4(&row, st->prefetch_ok, st->prefetch_wal_distance);
	pps_row_int4(&row, st->prefetch_ok, st->prefetch_block_distance);
	pps_row_int4(&row, st->prefetch_ok, st->prefetch_io_depth);
	pps_row_put(&row, true, (Datum) 0); /* wal_generated_bytes_per_s */
	pps_row_put(&row, true, (Datum) 0); /* wal_records_per_s */
	pps_row_put(&row, true, (Datum) 0); /* wal_fpi_per_s */
	pps_row_put(&row, true, (Datum) 0); /* application_name */
	pps_row_check(&row);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
}

/*
 * primary_st: the sampler's latest reading if it was taken on a primary
 * (for its WAL generation rates), else NULL.
 */
static void
pps_replay_standby_row(Tuplestorestate *store, TupleDesc tupdesc, const PpsWalSender *w,
					   TimestampTz now, XLogRecPtr local_lsn, const PpsReplayState *primary_st)
{
	PpsRow		row;
	bool		applied = !XLogRecPtrIsInvalid(w->apply);

	pps_row_start(&row, tupdesc);
	pps_row_text(&row, "standby");
	pps_row_put(&row, false, TimestampTzGetDatum(now));
	pps_row_int4(&row, true, w->pid);
	pps_row_text(&row, pps_replay_walsender_state_name(w->state));
	pps_row_lsn(&row, w->sent);
	pps_row_lsn(&row, w->write);
	pps_row_lsn(&row, w->flush);
	pps_row_lsn(&row, w->apply);
	pps_row_int8(&row, applied,
				 local_lsn > w->apply ? (int64) (local_lsn - w->apply) : 0);
	pps_row_float(&row, w->apply_lag_us >= 0, w->apply_lag_us / 1e6);
	for (int i = 0; i < PPS_REPLAY_LOCAL_ONLY_COLUMNS; i++)
		pps_row_put(&row, true, (Datum) 0);
	pps_row_float(&row, primary_st != NULL, primary_st ? primary_st->wal_generated_bytes_per_s : 0);
	pps_row_float(&row, primary_st != NULL, primary_st ? primary_st->wal_records_per_s : 0);
	pps_row_float(&row, primary_st != NULL, primary_st ? primary_st->wal_fpi_per_s : 0);
	pps_row_text(&row, pps_replay_appname(w->pid));
	pps_row_check(&row);
	tuplestore_putvalues(store, tupdesc, row.values, row.nulls);
}

static Datum
pg_postmaster_stats_replay_body(PG_FUNCTION_ARGS)
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
	PpsReplayState st;
	bool		have;
	bool		in_recovery;
	PpsWalSender *walsenders;
	int			n;
	XLogRecPtr	local_lsn;
	TimestampTz now;

	tupdesc = pps_srf_start(fcinfo, &store);

	have = pps_shmem_replay_read(&st);
	in_recovery = RecoveryInProgress();

	/* a reading from before a promotion describes a replay that is over */
	if (in_recovery && have && st.in_recovery)
		pps_replay_local_row(store, tupdesc, &st);

	walsenders = palloc(sizeof(PpsWalSender) * Max(max_wal_senders, 1));
	n = pps_replay_walsenders(walsenders, max_wal_senders);
	if (n == 0)
		return (Datum) 0;

	/* what a standby could have: written WAL here, or what a cascading standby has */
	now = GetCurrentTimestamp();
	if (!in_recovery)
		local_lsn = GetXLogWriteRecPtr();
	else
		local_lsn = Max(GetWalRcvFlushRecPtr(NULL, NULL), GetXLogReplayRecPtr(NULL));

	for (int i = 0; i < Min(n, max_wal_senders); i++)
		pps_replay_standby_row(store, tupdesc, &walsenders[i], now, local_lsn,
							   have && !st.in_recovery ? &st : NULL);
	return (Datum) 0;
}
