/*-------------------------------------------------------------------------
 *
 * pps_worker_replay.c
 *	  The sampler's side of the replay source: keeps the previous reading
 *	  for the rates, publishes the state for pg_postmaster_stats_replay,
 *	  fills the sample's replay columns and says in the sources view what
 *	  is measured.
 *
 * The source (source_replay.c) only reads the server and computes; the
 * state lands in shared memory here, under the sampler's seqlock, and the
 * SQL function (pps_sql_replay.c) reads it from there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/float.h"

#include "pps_shmem.h"
#include "pps_worker_replay.h"
#include "source_replay.h"

/* What the source's detail depends on; formatting it costs more than a read. */
typedef struct PpsReplayReportKey
{
	bool		valid;
	bool		in_recovery;
	int			standbys;
	bool		wal_stats_ok;
	int			startup_pid;
	bool		startup_cpu_ok;
	bool		walrcv_streaming;
	bool		prefetch_ok;
} PpsReplayReportKey;

static PpsReplayReportKey reported;

/* the previous tick's reading, for the rates */
static PpsReplayReading prev;
static bool prev_ok = false;

/* The sources view: what is measured, and what is not and why. */
static void
pps_wreplay_report(const PpsReplayReading *r, bool force)
{
	char		startup[PPS_DETAIL_LEN];
	PpsReplayReportKey key;

	memset(&key, 0, sizeof(key));
	key.valid = true;
	key.in_recovery = r->in_recovery;
	key.standbys = r->standbys;
	key.wal_stats_ok = r->wal_stats_ok;
	key.startup_pid = r->startup_pid;
	key.startup_cpu_ok = r->startup_cpu_ok;
	key.walrcv_streaming = r->walrcv_streaming;
	key.prefetch_ok = r->prefetch_ok;
	if (!force && memcmp(&key, &reported, sizeof(key)) == 0)
		return;
	memcpy(&reported, &key, sizeof(key));

	if (!r->in_recovery)
	{
		if (r->standbys == 0)
			pps_shmem_sources_set(PPS_SRC_REPLAY, false,
								  "not in recovery and no standby connected: pg_postmaster_stats_replay has no rows (the WAL generation rate is still sampled)");
		else
			pps_shmem_sources_set(PPS_SRC_REPLAY, true,
								  "primary: %d standby(s) connected, read live from the walsender array; WAL generation from the insert position%s",
								  r->standbys,
								  r->wal_stats_ok ? ", records and full-page images from pg_stat_wal" : "");
		return;
	}

	if (r->startup_pid > 0 && r->startup_cpu_ok)
		snprintf(startup, sizeof(startup), "startup process pid %d (/proc/%d/schedstat)",
				 r->startup_pid, r->startup_pid);
	else if (r->startup_pid > 0)
		snprintf(startup, sizeof(startup), "startup process CPU unknown: %s",
				 pps_replay_startup_error());
	else if (r->startup_pid == 0)
		strlcpy(startup, "startup process CPU unknown: it is not in the backend status array",
				sizeof(startup));
	else
		snprintf(startup, sizeof(startup), "startup process CPU unknown: %s",
				 pps_replay_startup_error());

	pps_shmem_sources_set(PPS_SRC_REPLAY, true,
						  "standby: %s; WAL receiver %s; prefetch counters %s%s",
						  startup,
						  r->walrcv_streaming ? "streaming" : "not streaming (archive or pg_wal)",
						  r->prefetch_ok ? "read" : "unavailable: ",
						  r->prefetch_ok ? "" : pps_replay_prefetch_error());
}

/*
 * Called by the sampler every tick: has the source read and compute,
 * publishes the latest state for the replay view and fills the sample's
 * replay columns.
 */
void
pps_wreplay_sample(PpsSample *s, double seconds)
{
	PpsReplayReading cur;
	PpsReplayState st;
	char		err[PPS_DETAIL_LEN];

	s->replay_lag_bytes = -1;
	s->replay_lag_seconds = s->replay_rate_bytes_per_s = get_float8_nan();
	s->startup_cpu_pct = s->replay_headroom = get_float8_nan();
	s->wal_generated_bytes_per_s = get_float8_nan();
	s->replay_state = PPS_REPLAY_UNKNOWN;

	if (!pps_replay_read(&cur, err, sizeof(err)))
	{
		pps_shmem_sources_set(PPS_SRC_REPLAY, false, "%s", err);
		prev_ok = false;
		reported.valid = false;
		return;
	}

	pps_replay_compute(&cur, prev_ok && s->has_rates ? &prev : NULL, seconds, s->time, &st);
	pps_shmem_replay_publish(&st);

	s->valid |= PPS_SRC_BIT(PPS_SRC_REPLAY);
	s->replay_lag_bytes = st.lag_bytes;
	s->replay_lag_seconds = st.lag_seconds;
	s->replay_rate_bytes_per_s = st.replay_bytes_per_s;
	s->startup_cpu_pct = st.startup_cpu_pct;
	s->replay_headroom = st.headroom;
	s->wal_generated_bytes_per_s = st.wal_generated_bytes_per_s;
	s->replay_state = (int16) st.state;

	/* after a gap (first tick, collection re-enabled) the detail was overwritten */
	pps_wreplay_report(&cur, !s->has_rates);
	prev = cur;
	prev_ok = true;
}
