/*-------------------------------------------------------------------------
 *
 * pps_shmem.h
 *	  Shared state of pg_postmaster_stats: cumulative counters, the sample
 *	  ring and the state of every source.  Locking rules: see pps_shmem.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PPS_SHMEM_H
#define PPS_SHMEM_H

#include "datatype/timestamp.h"
#include "port/atomics.h"

#include "pps_compat.h"
#include "pps_bpf.h"
#include "pps_histogram.h"
#include "pps_types_limits.h"
#include "pps_types_replay.h"
#include "pps_types_snapshot.h"

/* Sources; the order is the order of pg_postmaster_stats_sources. */
typedef enum PpsSource
{
	PPS_SRC_POSTMASTER = 0,		/* /proc/<postmaster pid> */
	PPS_SRC_ACCEPT,				/* sock_diag: the postmaster's listen queues */
	PPS_SRC_CONNSETUP,			/* ClientAuthentication_hook */
	PPS_SRC_CHILDREN,			/* backend status array + /proc children */
	PPS_SRC_BGWORKERS,			/* the server's background-worker registry */
	PPS_SRC_PARALLEL,			/* ExecutorEnd_hook: parallel workers planned/launched */
	PPS_SRC_SNAPSHOT,			/* the probe worker: GetSnapshotData() cost */
	PPS_SRC_LIMITS,				/* the probe worker: headroom against limits */
	PPS_SRC_EBPF,				/* eBPF programs: exact forks, exits, reaps */
	PPS_SRC_REPLAY,				/* WAL replay / generation, walsenders */
	PPS_SRC_CGROUP_CPU,			/* the postmaster's CPU cgroup: quota, throttling */
	PPS_NUM_SOURCES
} PpsSource;

#define PPS_SRC_BIT(s) (1U << (s))
#define PPS_DETAIL_LEN 256

/*
 * One sample, taken by the worker once per pg_postmaster_stats.sample_interval.
 * Rates are over the interval since the previous sample.  Fields that belong
 * to a source whose bit is clear in "valid" are not meaningful; rate fields
 * are not meaningful when has_rates is false (first sample after a start).
 */
typedef struct PpsSample
{
	TimestampTz time;
	double		interval_seconds;
	uint32		valid;			/* PPS_SRC_BIT() of sources that answered */
	bool		has_rates;
	int16		replay_state;	/* PpsReplayStateCode, for the diagnosis */

	/* postmaster process */
	double		pm_cpu_pct;
	double		pm_cpu_user_pct;
	double		pm_cpu_system_pct;
	double		pm_cpu_wait_pct;	/* runnable but not running */
	double		pm_voluntary_ctxsw_per_s;
	double		pm_involuntary_ctxsw_per_s;
	int64		pm_rss_bytes;
	int64		pm_pagetable_bytes;
	int32		pm_children;

	/* accept queue */
	int32		accept_queue_depth;
	int32		accept_queue_max;
	int32		listen_sockets;
	int64		listen_drops_total; /* sk_drops of the TCP listeners */
	double		listen_drops_per_s;

	/* connection setup */
	double		connections_per_s;
	double		auth_failures_per_s;
	double		conn_setup_avg_seconds; /* NaN when no connection */
	double		conn_setup_p99_seconds; /* bucket bound; NaN likewise */

	/* live children by BackendType, from the backend status array */
	uint16		children_by_type[PPS_MAX_BACKEND_TYPES];
	int32		children_unregistered;
	int32		autovacuum_workers_started; /* new autovacuum pids seen */

	/* background-worker registry */
	int32		bgw_slots_total;
	int32		bgw_slots_in_use;
	int32		bgw_not_started;
	int32		bgw_parallel_active;	/* registered minus terminated */
	double		bgw_registrations_per_s;
	double		bgw_parallel_registered_per_s;
	double		bgw_parallel_terminated_per_s;

	/* parallel query demand and supply (executor hook) */
	double		parallel_planned_per_s;
	double		parallel_launched_per_s;

	/* snapshot probe (latest result of the probe worker) */
	double		snapshot_ns;	/* median of the batch */
	double		snapshot_ns_max;
	int32		snapshot_xcnt;
	int32		snapshot_subxcnt;
	bool		snapshot_suboverflowed;
	int32		snapshot_procs;
	int64		snapshot_oldest_xid_age;

	/* eBPF: exact postmaster events over the interval */
	double		forks_per_s;
	double		exits_per_s;
	double		abnormal_exits_per_s;
	double		reaps_per_s;
	int32		zombies;		/* exited, not yet reaped */
	double		fork_avg_seconds;	/* mean clone() time in the postmaster */
	double		reap_latency_avg_seconds;
	double		cpu_share_pct[PPS_BPF_NCPU_STATES]; /* of the postmaster's samples */
	int32		server_oncpu_samples;	/* any server process on CPU; -1: no sampling */
	double		snapshot_cpu_share_pct; /* % of those in GetSnapshotData; NaN: none */

	/* the limit with the least headroom (index into the limits rows) */
	double		limits_min_headroom_pct;
	int16		limits_min_index;
	/* replay: standby-only or primary-only, else NaN/-1 */
	int64		replay_lag_bytes;	/* standby: received - replayed */
	double		replay_lag_seconds;
	double		replay_rate_bytes_per_s;
	double		startup_cpu_pct;
	double		replay_headroom;
	double		wal_generated_bytes_per_s;	/* primary */

	/* the sampler's own CPU time for this tick */
	double		sampler_cpu_us;

	/* the postmaster's CPU cgroup (pps_worker_cgroup.c) */
	double		cgroup_cpu_limit_cores; /* quota / period; NaN: no quota */
	double		cgroup_throttled_periods_pct;	/* of periods elapsed */
	double		cgroup_throttled_seconds_per_s;
	int64		cgroup_throttled_periods_total; /* the cgroup's nr_throttled */
	int64		cgroup_throttled_ns_total;	/* its throttled time */
} PpsSample;

/* A ring slot: seqlock counter, odd while the worker writes the sample. */
typedef struct PpsSlotData
{
	uint64		index;			/* which sample this is, since server start */
	PpsSample	sample;
} PpsSlotData;

typedef struct PpsSlot
{
	pg_atomic_uint64 seq;
	PpsSlotData data;
} PpsSlot;

/*
 * The extension's own cost (pg_postmaster_stats_overhead, the rows are
 * built in pps_shmem_overhead.c).  Cumulative, in pps_shmem_counters.
 */
typedef enum PpsOvhHook
{
	PPS_OVH_AUTH_HOOK = 0,
	PPS_OVH_EXECUTOR_END_HOOK,
	PPS_OVH_NHOOKS
} PpsOvhHook;

typedef struct PpsOvhCounters
{
	pg_atomic_uint64 sampler_ticks;
	pg_atomic_uint64 sampler_cpu_ns;	/* getrusage of the whole process */
	pg_atomic_uint64 sampler_src_ns[PPS_NUM_SOURCES];	/* thread CPU per source */
	pg_atomic_uint64 probe_ticks;
	pg_atomic_uint64 probe_cpu_ns;
	pg_atomic_uint64 probe_src_ns[PPS_NUM_SOURCES];
	pg_atomic_uint64 hook_calls[PPS_OVH_NHOOKS];	/* every call */
	pg_atomic_uint64 hook_timed[PPS_OVH_NHOOKS];	/* calls timed (1 in 64) */
	pg_atomic_uint64 hook_timed_ns[PPS_OVH_NHOOKS];
	pg_atomic_uint64 sql_calls;
	pg_atomic_uint64 sql_ns;
	pg_atomic_uint64 bpf_runs[PPS_BPF_NPROGS];	/* folded bpf_prog_info */
	pg_atomic_uint64 bpf_ns[PPS_BPF_NPROGS];
} PpsOvhCounters;

#define PPS_OVH_NROWS (1 + PPS_NUM_SOURCES + 3 + PPS_OVH_NHOOKS + 1 + PPS_BPF_NPROGS + 1)

/* What the sampler measured over its last interval; under ovh_seq. */
typedef struct PpsOvhWindow
{
	TimestampTz time;			/* 0: no window yet */
	double		seconds;
	double		pct[PPS_OVH_NROWS]; /* of one core; NaN: unknown */
	int32		bpf_stats_enabled;	/* kernel.bpf_stats_enabled; -1 unread */
	int32		bpf_nprogs;		/* programs the sampler holds; 0: no eBPF */
	uint32		bpf_prog_mask;	/* which: 1 << enum pps_bpf_prog */
	double		last_tick_us;	/* the sampler's last tick, thread CPU */
} PpsOvhWindow;

/*
 * When and at what cost the probe refreshed the limits, and the figures
 * the sampler takes every tick, computed by the probe as it publishes:
 * first in PpsLimitsShared, so that the sampler copies only these bytes
 * and not the whole reading (kilobytes of names, sources and hints).
 */
typedef struct PpsLimitsSummary
{
	TimestampTz time;
	double		cost_us;		/* CPU of the last refresh */
	double		slow_cost_us;	/* ... of the last one with PSS */
	int32		nlimits;
	int32		nmeasured;		/* limits with a headroom, settings excluded */
	int32		min_index;		/* the lowest headroom's row, -1: none */
	double		min_headroom_pct;
} PpsLimitsSummary;

/* The probe worker's latest limits. */
typedef struct PpsLimitsShared
{
	PpsLimitsSummary summary;	/* first: see above */
	PpsLimitsReading reading;
} PpsLimitsShared;

typedef struct PpsSourceState
{
	bool		active;
	char		detail[PPS_DETAIL_LEN];
} PpsSourceState;

/*
 * Why the postmaster discarded the copy of the segment it saved across a
 * crash restart (pps_shmem_save.c); PPS_SAVE_USABLE when it did not.
 */
typedef enum PpsSaveVerdict
{
	PPS_SAVE_USABLE = 0,		/* restored, or nothing was saved */
	PPS_SAVE_NO_MEMORY,			/* no memory for the copy */
	PPS_SAVE_MAGIC,
	PPS_SAVE_LAYOUT,
	PPS_SAVE_RING_SIZE,
	PPS_SAVE_SAMPLES_WRITTEN,
	PPS_SAVE_SLOT_SEQ,
	PPS_SAVE_SLOT_INDEX,
	PPS_SAVE_HISTOGRAM,
	PPS_SAVE_DISCARD_NOTE,
	PPS_SAVE_NUM_VERDICTS
} PpsSaveVerdict;

/* "PPS_SHM1": the first field of every segment this library initialized */
#define PPS_SHMEM_MAGIC UINT64CONST(0x5050535f53484d31)

typedef struct PpsShared
{
	/*
	 * Identity and crash-restart record: written by the postmaster only,
	 * before it starts any child; read-only for everyone else.
	 */
	uint64		magic;			/* PPS_SHMEM_MAGIC */
	uint64		layout;			/* pps_shmem_layout() */
	int32		discarded_why;	/* PpsSaveVerdict of the last discard */
	TimestampTz discarded_at;	/* when (0: never) */

	/*
	 * Cumulative counters from here to ovh: each one is also
	 * listed in pps_shmem_counters (pps_shmem.c), which zeroes them.
	 */

	/* written by any backend with atomics */
	pg_atomic_uint64 connections_total;
	pg_atomic_uint64 auth_failures_total;
	PpsHistogram conn_setup;

	/* parallel query, written by leaders' ExecutorEnd_hook */
	pg_atomic_uint64 parallel_queries_total;
	pg_atomic_uint64 parallel_planned_total;
	pg_atomic_uint64 parallel_launched_total;

	/* accumulated by the worker from the registry's deltas */
	pg_atomic_uint64 bgw_registrations_total;
	pg_atomic_uint64 bgw_parallel_registered_total;
	pg_atomic_uint64 bgw_parallel_terminated_total;
	pg_atomic_uint64 autovacuum_started_total;

	/* snapshot probe: its worker writes, under probe_seq (a seqlock) */
	pg_atomic_uint32 probe_pid;
	pg_atomic_uint64 probe_seq;
	PpsSnapshotProbe probe;
	PpsHistogram snapshot_hist; /* nanoseconds per GetSnapshotData() */

	/* eBPF totals, folded in by the sampler from the programs' counters */
	pg_atomic_uint64 bpf_forks_total;
	pg_atomic_uint64 bpf_reaps_total;
	pg_atomic_uint64 bpf_exits_total[PPS_BPF_NCHILD_TYPES];
	pg_atomic_uint64 bpf_exits_unseen_total[PPS_BPF_NCHILD_TYPES]; /* forked before attach */
	pg_atomic_uint64 bpf_abnormal_total[PPS_BPF_NCHILD_TYPES];
	pg_atomic_uint64 bpf_signaled_total[PPS_BPF_NCHILD_TYPES];
	pg_atomic_uint64 bpf_cpu_samples_total[PPS_BPF_NCPU_STATES];
	pg_atomic_uint64 bpf_server_samples_total;
	pg_atomic_uint64 bpf_snapshot_samples_total;
	PpsHistogram fork_hist;		/* microseconds */
	PpsHistogram reap_hist;
	PpsHistogram lifetime_hist;
	PpsOvhCounters ovh;			/* the extension's own cost */

	/* limits: the probe worker writes, under limits_seq (a seqlock) */
	pg_atomic_uint64 limits_seq;
	PpsLimitsShared limits;
	/* replay source's latest reading: the sampler writes, under replay_seq */
	pg_atomic_uint64 replay_seq;
	PpsReplayState replay;

	/* bumped by pg_postmaster_stats_reset(); lets the worker rebase deltas */
	pg_atomic_uint64 reset_generation;
	pg_atomic_uint64 stats_reset;	/* TimestampTz of the last reset */

	/* worker identity, written by the worker */
	pg_atomic_uint32 worker_pid;
	pg_atomic_uint64 worker_starts;

	/* overhead over the last interval: the sampler writes, under ovh_seq */
	pg_atomic_uint64 ovh_seq;
	PpsOvhWindow ovh_window;

	/* source states, one seqlock for all of them */
	pg_atomic_uint64 sources_seq;
	PpsSourceState sources[PPS_NUM_SOURCES];

	/*
	 * sample ring; samples_written counts every sample ever appended.
	 * ring_size is only a record of pg_postmaster_stats.history_size for the
	 * crash-restart check: every process indexes the ring with its own copy
	 * of that setting.
	 */
	int			ring_size;
	pg_atomic_uint64 samples_written;
	PpsSlot		ring[FLEXIBLE_ARRAY_MEMBER];
} PpsShared;

extern PpsShared *pps_shared;

/*
 * The cumulative counters and histograms of PpsShared, listed once: a fresh
 * segment starts them at zero, pg_postmaster_stats_reset() zeroes them, and
 * the crash-restart check (pps_shmem_save.c) walks the histograms.
 */
typedef enum PpsCounterKind
{
	PPS_COUNTER_U64,			/* n pg_atomic_uint64 */
	PPS_COUNTER_HIST			/* one PpsHistogram */
} PpsCounterKind;

typedef struct PpsCounterField
{
	const char *name;			/* the field's, for messages */
	PpsCounterKind kind;
	size_t		offset;			/* in PpsShared */
	int			n;				/* array elements (PPS_COUNTER_U64) */
} PpsCounterField;

extern const PpsCounterField pps_shmem_counters[];
extern const int pps_shmem_ncounters;

extern Size pps_shmem_size(int history_size);
extern uint64 pps_shmem_layout(void);
extern void pps_shmem_init_transient(PpsShared *s);
extern char *pps_shmem_discard_note(void);
extern void pps_shmem_request(void);
extern void pps_shmem_startup(void);

extern double pps_sample_fork_cpu_seconds(const PpsSample *s);

extern void pps_shmem_ring_append(const PpsSample *sample);
extern bool pps_shmem_ring_read(uint64 index, PpsSample *out);
extern uint64 pps_shmem_ring_oldest(void);
extern bool pps_shmem_ring_latest(PpsSample *out);

extern void pps_shmem_sources_set(PpsSource src, bool active, const char *fmt,...)
			pg_attribute_printf(3, 4);
extern void pps_shmem_sources_read(PpsSourceState *out);
extern const char *pps_shmem_source_name(PpsSource src);

extern void pps_shmem_probe_publish(const PpsSnapshotProbe *probe);
extern bool pps_shmem_probe_read(PpsSnapshotProbe *out);

extern void pps_shmem_limits_publish(const PpsLimitsReading *r, const PpsLimitsSummary *sum,
									 bool slow);
extern bool pps_shmem_limits_summary_read(PpsLimitsSummary *out);
extern bool pps_shmem_limits_read(PpsLimitsReading *out, TimestampTz *time,
								  double *cost_us, double *slow_cost_us);
extern void pps_shmem_replay_publish(const PpsReplayState *state);
extern bool pps_shmem_replay_read(PpsReplayState *out);

extern void pps_shmem_counters_reset(void);
extern void pps_shmem_require_loaded(void);

#endif							/* PPS_SHMEM_H */
