/* pg_postmaster_stats 1.0 */

\echo Use "CREATE EXTENSION pg_postmaster_stats" to load this file. \quit

-- Whoever owns the target schema (public, by default the database owner's)
-- could plant functions and operators there that match the arguments below
-- better than pg_catalog's, and CREATE EXTENSION would bind them into the
-- views, to run with the privileges of every later reader, superusers
-- included.  So: the script runs with only pg_catalog on the path (SET
-- LOCAL is undone when CREATE EXTENSION ends); every function and operator
-- is still written schema-qualified, pg_catalog.fn() and
-- OPERATOR(pg_catalog.op), so that neither alone is load-bearing; our own
-- objects are @extschema@.name.  Constructs that look operators up by name
-- (IN, NULLIF, BETWEEN, JOIN USING, simple CASE) are spelt out with
-- qualified operators.  Already safe as written: EXTRACT(), which the
-- grammar makes pg_catalog.extract(); COALESCE and CASE WHEN, which look
-- nothing up; ORDER BY, which takes the type's default btree operators;
-- type names and casts, as a type is found by exact name with pg_catalog
-- searched first and a cast comes from pg_cast.
-- test/t/030_install_script_search_path.pl plants a trojan for every name
-- used here and fails on anything bound outside pg_catalog, with both
-- defences and with each one alone.
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION @extschema@.pg_postmaster_stats_current(
    OUT sampled_at timestamptz,
    OUT postmaster_pid integer,
    OUT worker_pid integer,
    OUT postmaster_cpu_pct float8,
    OUT postmaster_cpu_user_pct float8,
    OUT postmaster_cpu_system_pct float8,
    OUT postmaster_cpu_wait_pct float8,
    OUT postmaster_rss_bytes bigint,
    OUT postmaster_pagetable_bytes bigint,
    OUT postmaster_children integer,
    OUT accept_queue_depth integer,
    OUT accept_queue_max integer,
    OUT listen_sockets integer,
    OUT listen_drops_per_s float8,
    OUT listen_drops_total bigint,
    OUT connections_per_s float8,
    OUT connection_setup_p99_seconds float8,
    OUT connections_total bigint,
    OUT auth_failures_total bigint,
    OUT connection_setup_seconds_total float8,
    OUT parallel_workers_planned_total bigint,
    OUT parallel_workers_launched_total bigint,
    OUT bgworker_registrations_total bigint,
    OUT forks_total bigint,
    OUT exits_total bigint,
    OUT abnormal_exits_total bigint,
    OUT reaps_total bigint,
    OUT zombies integer,
    OUT samples_total bigint,
    OUT worker_starts_total bigint,
    OUT stats_reset timestamptz,
    -- cgroup CPU
    OUT cgroup_cpu_limit_cores float8,
    OUT cgroup_throttled_periods_pct float8,
    OUT cgroup_throttled_seconds_per_s float8,
    OUT cgroup_throttled_periods_total bigint,
    OUT cgroup_throttled_seconds_total float8)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_current'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_history(
    OUT "time" timestamptz,
    OUT interval_seconds float8,
    OUT postmaster_cpu_pct float8,
    OUT postmaster_cpu_user_pct float8,
    OUT postmaster_cpu_system_pct float8,
    OUT postmaster_cpu_wait_pct float8,
    OUT postmaster_voluntary_ctxsw_per_s float8,
    OUT postmaster_involuntary_ctxsw_per_s float8,
    OUT postmaster_rss_bytes bigint,
    OUT postmaster_pagetable_bytes bigint,
    OUT postmaster_children integer,
    OUT accept_queue_depth integer,
    OUT accept_queue_max integer,
    OUT listen_drops_per_s float8,
    OUT connections_per_s float8,
    OUT auth_failures_per_s float8,
    OUT connection_setup_avg_seconds float8,
    OUT connection_setup_p99_seconds float8,
    OUT client_backends integer,
    OUT background_workers integer,
    OUT autovacuum_workers integer,
    OUT walsenders integer,
    OUT children_unregistered integer,
    OUT autovacuum_workers_started integer,
    OUT bgworker_slots_in_use integer,
    OUT bgworker_slots_not_started integer,
    OUT parallel_workers_active integer,
    OUT bgworker_registrations_per_s float8,
    OUT parallel_workers_registered_per_s float8,
    OUT parallel_workers_terminated_per_s float8,
    OUT parallel_workers_planned_per_s float8,
    OUT parallel_workers_launched_per_s float8,
    OUT snapshot_ns float8,
    OUT snapshot_ns_max float8,
    OUT snapshot_xcnt integer,
    OUT snapshot_subxcnt integer,
    OUT snapshot_suboverflowed boolean,
    OUT snapshot_procs integer,
    OUT snapshot_oldest_xid_age bigint,
    OUT forks_per_s float8,
    OUT exits_per_s float8,
    OUT abnormal_exits_per_s float8,
    OUT reaps_per_s float8,
    OUT zombies integer,
    OUT fork_avg_seconds float8,
    OUT fork_cpu_avg_seconds float8,
    OUT reap_latency_avg_seconds float8,
    OUT postmaster_oncpu_fork_pct float8,
    OUT postmaster_oncpu_reap_pct float8,
    OUT postmaster_oncpu_accept_pct float8,
    OUT postmaster_oncpu_other_pct float8,
    OUT limits_min_headroom_pct float8,
    OUT limits_min_name text,
    OUT server_oncpu_samples integer,
    OUT snapshot_cpu_share_pct float8,
    -- replay
    OUT replay_lag_bytes bigint,
    OUT replay_lag_seconds float8,
    OUT replay_rate_bytes_per_s float8,
    OUT startup_cpu_pct float8,
    OUT replay_headroom float8,
    OUT wal_generated_bytes_per_s float8,
    OUT sampler_cpu_us float8,
    -- cgroup CPU
    OUT cgroup_cpu_limit_cores float8,
    OUT cgroup_throttled_periods_pct float8,
    OUT cgroup_throttled_seconds_per_s float8,
    OUT replay_state text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_history'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_latency(
    OUT metric text,
    OUT le_seconds float8,
    OUT count bigint,
    OUT sum_seconds float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_latency'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_children(
    OUT backend_type text,
    OUT children integer,
    OUT exits_total bigint,
    OUT abnormal_exits_total bigint,
    OUT signaled_exits_total bigint,
    OUT exits_forked_before_attach_total bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_children'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_sources(
    OUT source text,
    OUT active boolean,
    OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_sources'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_bgworkers(
    OUT sampled_at timestamptz,
    OUT slots_total integer,
    OUT slots_in_use integer,
    OUT slots_not_started integer,
    OUT parallel_workers_active integer,
    OUT autovacuum_workers integer,
    OUT registrations_total bigint,
    OUT parallel_workers_registered_total bigint,
    OUT parallel_workers_terminated_total bigint,
    OUT parallel_queries_total bigint,
    OUT parallel_workers_planned_total bigint,
    OUT parallel_workers_launched_total bigint,
    OUT parallel_workers_shortfall_total bigint,
    OUT autovacuum_workers_started_total bigint,
    OUT error_exits_total bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_bgworkers'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_snapshot_probe(
    OUT probed_at timestamptz,
    OUT calls integer,
    OUT snapshot_ns float8,
    OUT snapshot_ns_max float8,
    OUT xcnt integer,
    OUT subxcnt integer,
    OUT suboverflowed boolean,
    OUT procs_in_use integer,
    OUT oldest_xid_age bigint,
    OUT in_recovery boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_snapshot_probe'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_limits(
    OUT limit_name text,
    OUT current float8,
    OUT maximum float8,
    OUT headroom_pct float8,
    OUT unit text,
    OUT source text,
    OUT hint text,
    OUT measured_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_limits'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_reset'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW @extschema@.pg_postmaster_stats AS
    SELECT * FROM @extschema@.pg_postmaster_stats_current();
CREATE VIEW @extschema@.pg_postmaster_stats_history AS
    SELECT * FROM @extschema@.pg_postmaster_stats_history();
CREATE VIEW @extschema@.pg_postmaster_stats_latency AS
    SELECT * FROM @extschema@.pg_postmaster_stats_latency();
CREATE VIEW @extschema@.pg_postmaster_stats_children AS
    SELECT * FROM @extschema@.pg_postmaster_stats_children();
CREATE VIEW @extschema@.pg_postmaster_stats_sources AS
    SELECT * FROM @extschema@.pg_postmaster_stats_sources();
CREATE VIEW @extschema@.pg_postmaster_stats_bgworkers AS
    SELECT * FROM @extschema@.pg_postmaster_stats_bgworkers();
CREATE VIEW @extschema@.pg_postmaster_stats_limits AS
    SELECT * FROM @extschema@.pg_postmaster_stats_limits();
CREATE VIEW @extschema@.pg_postmaster_stats_snapshot AS
    SELECT p.*,
           w.snapshot_ns_min_window, w.snapshot_ns_median_window,
           w.snapshot_ns_max_window, w.window_samples,
           w.snapshot_cpu_share_pct, w.snapshot_cpu_share_pct_window,
           w.server_oncpu_samples_window
      FROM @extschema@.pg_postmaster_stats_snapshot_probe() p
     CROSS JOIN (
        SELECT pg_catalog.min(h.snapshot_ns) AS snapshot_ns_min_window,
               pg_catalog.percentile_cont(0.5::float8)
                   WITHIN GROUP (ORDER BY h.snapshot_ns)
                   AS snapshot_ns_median_window,
               pg_catalog.max(h.snapshot_ns_max) AS snapshot_ns_max_window,
               pg_catalog.count(h.snapshot_ns) AS window_samples,
               (pg_catalog.array_agg(h.snapshot_cpu_share_pct
                                     ORDER BY h."time" DESC))[1]
                   AS snapshot_cpu_share_pct,
               -- weighted by each sample's on-CPU samples: sum(in snapshot)
               -- / sum(all), NULL when the latter is 0 (NULLIF would look
               -- its = up by name)
               pg_catalog.sum(h.snapshot_cpu_share_pct
                              OPERATOR(pg_catalog.*) h.server_oncpu_samples)
                   OPERATOR(pg_catalog./)
                   CASE WHEN pg_catalog.sum(h.server_oncpu_samples)
                             FILTER (WHERE h.snapshot_cpu_share_pct IS NOT NULL)
                             OPERATOR(pg_catalog.<>) 0
                        THEN pg_catalog.sum(h.server_oncpu_samples)
                             FILTER (WHERE h.snapshot_cpu_share_pct IS NOT NULL)
                   END
                   AS snapshot_cpu_share_pct_window,
               pg_catalog.sum(h.server_oncpu_samples)
                   FILTER (WHERE h.snapshot_cpu_share_pct IS NOT NULL)
                   AS server_oncpu_samples_window
          FROM @extschema@.pg_postmaster_stats_history() h) w;

COMMENT ON VIEW @extschema@.pg_postmaster_stats IS
    'Latest sample of the postmaster plus cumulative counters (one row)';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_history IS
    'One row per sample, oldest first; rates are per second over the interval before the sample';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_latency IS
    'Cumulative latency histograms (Prometheus-style le buckets)';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_children IS
    'Live postmaster children by backend type, read at query time';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_sources IS
    'Every data source, whether it is active, and why not';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_bgworkers IS
    'Background-worker slots, registrations and parallel workers planned vs launched';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_snapshot IS
    'Latest GetSnapshotData() probe and its min/median/max over the history window; with eBPF, the share of the server''s CPU spent in GetSnapshotData()';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_limits IS
    'Headroom against every server and kernel limit on the way to very many connections';
COMMENT ON FUNCTION @extschema@.pg_postmaster_stats_reset() IS
    'Zeroes the cumulative counters and histograms; the history is kept';

-- Readable by monitoring roles only; resetting is for superusers unless granted.
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_current() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_history() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_latency() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_children() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_sources() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_bgworkers() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_snapshot_probe() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_limits() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_reset() FROM PUBLIC;

GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_current() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_history() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_latency() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_children() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_sources() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_bgworkers() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_snapshot_probe() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_limits() TO pg_monitor;

GRANT SELECT ON @extschema@.pg_postmaster_stats,
    @extschema@.pg_postmaster_stats_history,
    @extschema@.pg_postmaster_stats_latency,
    @extschema@.pg_postmaster_stats_children,
    @extschema@.pg_postmaster_stats_sources,
    @extschema@.pg_postmaster_stats_bgworkers,
    @extschema@.pg_postmaster_stats_snapshot,
    @extschema@.pg_postmaster_stats_limits TO pg_monitor;

-- ---- replay --------------------------------------------------------------
CREATE FUNCTION @extschema@.pg_postmaster_stats_replay(
    OUT kind text,
    OUT sampled_at timestamptz,
    OUT walsender_pid integer,
    OUT walsender_state text,
    OUT sent_lsn pg_lsn,
    OUT received_lsn pg_lsn,
    OUT flushed_lsn pg_lsn,
    OUT replayed_lsn pg_lsn,
    OUT replay_lag_bytes bigint,
    OUT replay_lag_seconds float8,
    OUT state text,
    OUT replay_paused boolean,
    OUT last_xact_replay_time timestamptz,
    OUT receive_rate_bytes_per_s float8,
    OUT replay_rate_bytes_per_s float8,
    OUT startup_pid integer,
    OUT startup_cpu_pct float8,
    OUT startup_cpu_wait_pct float8,
    OUT replay_capacity_bytes_per_s float8,
    OUT replay_headroom float8,
    OUT catchup_seconds float8,
    OUT prefetch_per_s float8,
    OUT prefetch_hit_per_s float8,
    OUT prefetch_skip_fpw_per_s float8,
    OUT prefetch_wal_distance_bytes integer,
    OUT prefetch_block_distance integer,
    OUT prefetch_io_depth integer,
    OUT wal_generated_bytes_per_s float8,
    OUT wal_records_per_s float8,
    OUT wal_fpi_per_s float8,
    OUT application_name text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_replay'
LANGUAGE C VOLATILE STRICT;

-- client_addr of each standby's walsender, as in pg_stat_replication.
-- pg_stat_get_activity(NULL) would list every backend: the local row asks
-- for pid 0, which matches none.
CREATE VIEW @extschema@.pg_postmaster_stats_replay AS
    SELECT r.kind, r.sampled_at, r.walsender_pid,
           r.application_name, a.client_addr,
           r.walsender_state, r.sent_lsn, r.received_lsn, r.flushed_lsn,
           r.replayed_lsn, r.replay_lag_bytes, r.replay_lag_seconds, r.state,
           r.replay_paused, r.last_xact_replay_time,
           r.receive_rate_bytes_per_s, r.replay_rate_bytes_per_s,
           r.startup_pid, r.startup_cpu_pct, r.startup_cpu_wait_pct,
           r.replay_capacity_bytes_per_s,
           r.replay_headroom, r.catchup_seconds,
           r.prefetch_per_s, r.prefetch_hit_per_s, r.prefetch_skip_fpw_per_s,
           r.prefetch_wal_distance_bytes, r.prefetch_block_distance,
           r.prefetch_io_depth,
           r.wal_generated_bytes_per_s, r.wal_records_per_s, r.wal_fpi_per_s
      FROM @extschema@.pg_postmaster_stats_replay() r
      LEFT JOIN LATERAL pg_catalog.pg_stat_get_activity(coalesce(r.walsender_pid, 0)) a ON true;

COMMENT ON VIEW @extschema@.pg_postmaster_stats_replay IS
    'WAL replay: one row for local replay on a standby, one row per standby streaming from this server';

REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_replay() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_replay() TO pg_monitor;
GRANT SELECT ON @extschema@.pg_postmaster_stats_replay TO pg_monitor;

-- ---- attribution: who connects, which query launches parallel workers ----
CREATE FUNCTION @extschema@.pg_postmaster_stats_clients(
    OUT database name,
    OUT role name,
    OUT application_name text,
    OUT client_addr inet,
    OUT connections_total bigint,
    OUT auth_failures_total bigint,
    OUT sessions_ended_total bigint,
    OUT session_seconds_sum float8,
    OUT short_sessions_total bigint,
    OUT setup_seconds_sum float8,
    OUT connections_per_s float8,
    OUT first_seen timestamptz,
    OUT last_seen timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_clients'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_parallel_queries(
    OUT queryid bigint,
    OUT database name,
    OUT role name,
    OUT executions_total bigint,
    OUT workers_planned_total bigint,
    OUT workers_launched_total bigint,
    OUT shortfall_total bigint,
    OUT last_seen timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_parallel_queries'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_attribution(
    OUT clients_dealloc_total bigint,
    OUT parallel_queries_dealloc_total bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_attribution'
LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION @extschema@.pg_postmaster_stats_reset_clients()
RETURNS void
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_reset_clients'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW @extschema@.pg_postmaster_stats_clients AS
    SELECT * FROM @extschema@.pg_postmaster_stats_clients();
CREATE VIEW @extschema@.pg_postmaster_stats_parallel_queries AS
    SELECT * FROM @extschema@.pg_postmaster_stats_parallel_queries();
-- the eviction counters join the main view as its last columns
CREATE OR REPLACE VIEW @extschema@.pg_postmaster_stats AS
    SELECT c.*, a.clients_dealloc_total, a.parallel_queries_dealloc_total
      FROM @extschema@.pg_postmaster_stats_current() c
     CROSS JOIN @extschema@.pg_postmaster_stats_attribution() a;

COMMENT ON VIEW @extschema@.pg_postmaster_stats_clients IS
    'Connections, authentication failures and session lifetimes by client (database, role as asked, application_name, address); the least used are evicted';
COMMENT ON VIEW @extschema@.pg_postmaster_stats_parallel_queries IS
    'Parallel executions and workers planned and launched by queryid; joins pg_stat_statements on queryid';
COMMENT ON FUNCTION @extschema@.pg_postmaster_stats_reset_clients() IS
    'Empties pg_postmaster_stats_clients only';

REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_clients() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_parallel_queries() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_attribution() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_reset_clients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_clients() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_parallel_queries() TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_attribution() TO pg_monitor;
GRANT SELECT ON @extschema@.pg_postmaster_stats_clients,
    @extschema@.pg_postmaster_stats_parallel_queries TO pg_monitor;
-- ---- end of attribution ------------------------------------------------------

-- ====================================================================
-- Diagnosis: which findings hold over a window of the history, since when,
-- and what to change (docs/diagnosis.md).  Computed at query time.
-- ====================================================================
CREATE FUNCTION @extschema@.pg_postmaster_stats_diagnose(
    window_length interval DEFAULT '1 minute',
    window_end timestamptz DEFAULT NULL,
    OUT finding text,
    OUT severity text,
    OUT since timestamptz,
    OUT samples integer,
    OUT summary text,
    OUT evidence jsonb,
    OUT remedy text,
    OUT source_views text[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_diagnose'
LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.pg_postmaster_stats_diagnosis_rules(
    OUT finding text,
    OUT severity text,
    OUT min_samples integer,
    OUT threshold text,
    OUT value float8,
    OUT unit text,
    OUT setting text,
    OUT rule text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_diagnosis_rules'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW @extschema@.pg_postmaster_stats_diagnosis AS
    SELECT * FROM @extschema@.pg_postmaster_stats_diagnose('1 minute');
CREATE VIEW @extschema@.pg_postmaster_stats_diagnosis_rules AS
    SELECT * FROM @extschema@.pg_postmaster_stats_diagnosis_rules();
COMMENT ON VIEW @extschema@.pg_postmaster_stats_diagnosis IS
    'What limits the server over the last minute: one row per finding, most severe first';

REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_diagnose(interval, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_diagnosis_rules() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_diagnose(interval, timestamptz) TO pg_monitor;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_diagnosis_rules() TO pg_monitor;
GRANT SELECT ON @extschema@.pg_postmaster_stats_diagnosis,
                @extschema@.pg_postmaster_stats_diagnosis_rules TO pg_monitor;

-- ====================================================================
-- BEGIN pg_postmaster_stats_overhead: the extension's own cost
-- One row per part (sampler, probe, auth_hook, executor_end_hook, ebpf,
-- sql) and rows "<part>:<piece>" that split a part; see docs/views.md.
-- ====================================================================
CREATE FUNCTION @extschema@.pg_postmaster_stats_overhead(
    OUT component text,
    OUT calls_total bigint,
    OUT cpu_seconds_total float8,
    OUT avg_ns_per_call float8,
    OUT cpu_pct_of_one_core float8,
    OUT detail text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_postmaster_stats_overhead'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW @extschema@.pg_postmaster_stats_overhead AS
    SELECT * FROM @extschema@.pg_postmaster_stats_overhead();
COMMENT ON VIEW @extschema@.pg_postmaster_stats_overhead IS
    'What pg_postmaster_stats itself costs: CPU per part, cumulative and over the last sample interval';

REVOKE ALL ON FUNCTION @extschema@.pg_postmaster_stats_overhead() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.pg_postmaster_stats_overhead() TO pg_monitor;
GRANT SELECT ON @extschema@.pg_postmaster_stats_overhead TO pg_monitor;
-- END pg_postmaster_stats_overhead

-- ====================================================================
-- BEGIN pg_postmaster_stats_metrics: every metric, Prometheus style
--
-- One row per sample: name in Prometheus naming (counters end in _total;
-- base units _seconds, _bytes, _ratio; histograms as _bucket{le}, _sum
-- and _count), labels as jsonb (so any label value is carried escaped),
-- value, and kind ('counter', 'gauge' or 'histogram').  Every row names
-- its source: metrics of a source that pg_postmaster_stats_sources
-- reports inactive, and values a source could not measure (NULL), are
-- left out, so the view neither fails nor shows stale numbers.
--
-- Adding a metric: one line in the VALUES list of the function it comes
-- from (a new function gets its own UNION ALL branch), and the same
-- metric in monitoring/postgres_exporter/queries.yaml; test/t/020 and
-- test/t/021 fail until the view, the exporter and docs/monitoring.md agree.
-- ====================================================================
CREATE VIEW @extschema@.pg_postmaster_stats_metrics AS
WITH sources AS MATERIALIZED (
    SELECT source, active FROM @extschema@.pg_postmaster_stats_sources()
), latency AS MATERIALIZED (
    -- read once: the buckets, _count and _sum rows come from one copy
    SELECT * FROM @extschema@.pg_postmaster_stats_latency()
), replay AS MATERIALIZED (
    SELECT * FROM @extschema@.pg_postmaster_stats_replay()
), histograms(metric, family, source) AS (VALUES
    ('connection_setup', 'pg_postmaster_connections_setup_seconds', 'connection_setup'),
    ('snapshot', 'pg_postmaster_snapshot_seconds', 'snapshot_probe'),
    ('fork', 'pg_postmaster_children_fork_seconds', 'ebpf'),
    ('reap_latency', 'pg_postmaster_children_reap_latency_seconds', 'ebpf'),
    ('child_lifetime', 'pg_postmaster_children_lifetime_seconds', 'ebpf')
), m(source, name, labels, value, kind) AS (
    -- the sampler itself and the counters' reset: always present
    SELECT v.*
      FROM @extschema@.pg_postmaster_stats_current() c
     CROSS JOIN LATERAL (VALUES
        (NULL::text, 'pg_postmaster_sampler_samples_total', '{}'::jsonb, c.samples_total::float8, 'counter'),
        (NULL, 'pg_postmaster_sampler_starts_total', '{}', c.worker_starts_total, 'counter'),
        (NULL, 'pg_postmaster_sampler_last_sample_time_seconds', '{}', extract(epoch FROM c.sampled_at)::float8, 'gauge'),
        (NULL, 'pg_postmaster_stats_reset_time_seconds', '{}', extract(epoch FROM c.stats_reset)::float8, 'gauge'),
        (NULL, 'pg_postmaster_stats_info', pg_catalog.jsonb_build_object(
            'version', (SELECT e.extversion FROM pg_catalog.pg_extension e
                         WHERE e.extname OPERATOR(pg_catalog.=) 'pg_postmaster_stats'),
            'cluster_name', pg_catalog.current_setting('cluster_name')), 1, 'gauge'),
        ('postmaster_process', 'pg_postmaster_cpu_busy_ratio', '{}', c.postmaster_cpu_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('postmaster_process', 'pg_postmaster_cpu_user_ratio', '{}', c.postmaster_cpu_user_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('postmaster_process', 'pg_postmaster_cpu_system_ratio', '{}', c.postmaster_cpu_system_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('postmaster_process', 'pg_postmaster_cpu_wait_ratio', '{}', c.postmaster_cpu_wait_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('postmaster_process', 'pg_postmaster_memory_resident_bytes', '{}', c.postmaster_rss_bytes, 'gauge'),
        ('postmaster_process', 'pg_postmaster_memory_pagetable_bytes', '{}', c.postmaster_pagetable_bytes, 'gauge'),
        ('accept_queue', 'pg_postmaster_listen_queue_depth', '{}', c.accept_queue_depth, 'gauge'),
        ('accept_queue', 'pg_postmaster_listen_queue_max', '{}', c.accept_queue_max, 'gauge'),
        ('accept_queue', 'pg_postmaster_listen_sockets', '{}', c.listen_sockets, 'gauge'),
        ('accept_queue', 'pg_postmaster_listen_drops_total', '{}', c.listen_drops_total, 'counter'),
        ('connection_setup', 'pg_postmaster_connections_total', '{}', c.connections_total, 'counter'),
        ('connection_setup', 'pg_postmaster_connections_auth_failures_total', '{}', c.auth_failures_total, 'counter'),
        ('ebpf', 'pg_postmaster_children_forked_total', '{}', c.forks_total, 'counter'),
        ('ebpf', 'pg_postmaster_children_reaped_total', '{}', c.reaps_total, 'counter'),
        ('ebpf', 'pg_postmaster_children_zombies', '{}', c.zombies, 'gauge'),
        -- cgroup CPU: the cgroup's own counters; no limit row without a quota
        ('cgroup_cpu', 'pg_postmaster_cgroup_cpu_limit_cores', '{}', c.cgroup_cpu_limit_cores, 'gauge'),
        ('cgroup_cpu', 'pg_postmaster_cgroup_throttled_periods_total', '{}', c.cgroup_throttled_periods_total, 'counter'),
        ('cgroup_cpu', 'pg_postmaster_cgroup_throttled_seconds_total', '{}', c.cgroup_throttled_seconds_total, 'counter')
        ) AS v
    UNION ALL
    SELECT v.*
      FROM @extschema@.pg_postmaster_stats_bgworkers() b
     CROSS JOIN LATERAL (VALUES
        ('bgworker_registry', 'pg_postmaster_bgworker_slots_max', '{}'::jsonb, b.slots_total::float8, 'gauge'),
        ('bgworker_registry', 'pg_postmaster_bgworker_slots_in_use', '{}', b.slots_in_use, 'gauge'),
        ('bgworker_registry', 'pg_postmaster_bgworker_slots_not_started', '{}', b.slots_not_started, 'gauge'),
        ('bgworker_registry', 'pg_postmaster_bgworker_parallel_active', '{}', b.parallel_workers_active, 'gauge'),
        ('bgworker_registry', 'pg_postmaster_bgworker_registrations_total', '{}', b.registrations_total, 'counter'),
        ('bgworker_registry', 'pg_postmaster_bgworker_parallel_registered_total', '{}', b.parallel_workers_registered_total, 'counter'),
        ('bgworker_registry', 'pg_postmaster_bgworker_parallel_terminated_total', '{}', b.parallel_workers_terminated_total, 'counter'),
        ('parallel_query', 'pg_postmaster_parallel_queries_total', '{}', b.parallel_queries_total, 'counter'),
        ('parallel_query', 'pg_postmaster_parallel_workers_planned_total', '{}', b.parallel_workers_planned_total, 'counter'),
        ('parallel_query', 'pg_postmaster_parallel_workers_launched_total', '{}', b.parallel_workers_launched_total, 'counter'),
        ('parallel_query', 'pg_postmaster_parallel_workers_shortfall_total', '{}', b.parallel_workers_shortfall_total, 'counter'),
        ('children', 'pg_postmaster_autovacuum_workers_started_total', '{}', b.autovacuum_workers_started_total, 'counter'),
        ('ebpf', 'pg_postmaster_bgworker_error_exits_total', '{}', b.error_exits_total, 'counter')
        ) AS v
    UNION ALL
    SELECT v.*
      FROM @extschema@.pg_postmaster_stats_snapshot_probe() p
     CROSS JOIN LATERAL (VALUES
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_seconds', '{}'::jsonb, p.snapshot_ns OPERATOR(pg_catalog./) 1e9::float8, 'gauge'),
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_max_seconds', '{}', p.snapshot_ns_max OPERATOR(pg_catalog./) 1e9, 'gauge'),
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_xids', '{}', p.xcnt, 'gauge'),
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_subxids', '{}', p.subxcnt, 'gauge'),
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_suboverflowed', '{}', p.suboverflowed::int, 'gauge'),
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_procs', '{}', p.procs_in_use, 'gauge'),
        ('snapshot_probe', 'pg_postmaster_snapshot_probe_oldest_xid_age', '{}', p.oldest_xid_age, 'gauge')
        ) AS v
    UNION ALL
    -- one series per limit; current and maximum only for limits in force
    SELECT v.*
      FROM @extschema@.pg_postmaster_stats_limits() l
     CROSS JOIN LATERAL (VALUES
        ('limits', 'pg_postmaster_limit_headroom_ratio', pg_catalog.jsonb_build_object('limit', l.limit_name),
         l.headroom_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('limits', 'pg_postmaster_limit_current', pg_catalog.jsonb_build_object('limit', l.limit_name, 'unit', l.unit),
         CASE WHEN l.maximum IS NOT NULL THEN l.current END, 'gauge'),
        ('limits', 'pg_postmaster_limit_maximum', pg_catalog.jsonb_build_object('limit', l.limit_name, 'unit', l.unit),
         CASE WHEN l.current IS NOT NULL THEN l.maximum END, 'gauge')
        ) AS v
    UNION ALL
    -- pg_postmaster_stats_latency: one family per histogram (a histogram
    -- not listed here is pg_postmaster_<metric>_seconds, always shown)
    SELECT h.source,
           coalesce(h.family, 'pg_postmaster_' OPERATOR(pg_catalog.||) l.metric
                              OPERATOR(pg_catalog.||) '_seconds')
               OPERATOR(pg_catalog.||) '_bucket',
           pg_catalog.jsonb_build_object('le',
               CASE WHEN l.le_seconds OPERATOR(pg_catalog.=) 'Infinity' THEN '+Inf'
                    ELSE l.le_seconds::text END),
           l.count, 'histogram'
      FROM latency l
      LEFT JOIN histograms h ON h.metric OPERATOR(pg_catalog.=) l.metric
    UNION ALL
    SELECT h.source,
           coalesce(h.family, 'pg_postmaster_' OPERATOR(pg_catalog.||) l.metric
                              OPERATOR(pg_catalog.||) '_seconds')
               OPERATOR(pg_catalog.||) v.suffix,
           '{}', v.value, 'histogram'
      FROM latency l
      LEFT JOIN histograms h ON h.metric OPERATOR(pg_catalog.=) l.metric
     CROSS JOIN LATERAL (VALUES ('_count', l.count::float8),
                                ('_sum', l.sum_seconds)) AS v(suffix, value)
     WHERE l.le_seconds OPERATOR(pg_catalog.=) 'Infinity'
    UNION ALL
    -- live children by type; the function raises an error when it cannot
    -- read them, so it runs only while the children source works (an
    -- uncorrelated EXISTS is a one-time filter: false, nothing below runs)
    SELECT 'children', 'pg_postmaster_child_processes',
           pg_catalog.jsonb_build_object('backend_type', c.backend_type), c.children, 'gauge'
      FROM @extschema@.pg_postmaster_stats_children() c
     WHERE EXISTS (SELECT FROM sources WHERE source OPERATOR(pg_catalog.=) 'children' AND active)
    UNION ALL
    -- exits by class of child (eBPF); NULL for the types it does not count
    SELECT 'ebpf', v.name, pg_catalog.jsonb_build_object('backend_type', c.backend_type), v.value, 'counter'
      FROM @extschema@.pg_postmaster_stats_children() c
     CROSS JOIN LATERAL (VALUES
        ('pg_postmaster_children_exited_total', c.exits_total::float8),
        ('pg_postmaster_children_exited_abnormally_total', c.abnormal_exits_total),
        ('pg_postmaster_children_exited_by_signal_total', c.signaled_exits_total)
        ) AS v(name, value)
     WHERE EXISTS (SELECT FROM sources WHERE source OPERATOR(pg_catalog.=) 'ebpf' AND active)
       AND EXISTS (SELECT FROM sources WHERE source OPERATOR(pg_catalog.=) 'children' AND active)
    UNION ALL
    -- the extension's own CPU, per part (the "<part>:<piece>" split rows
    -- are left out: they are inside their part's figure)
    SELECT NULL, 'pg_postmaster_stats_overhead_cpu_seconds_total',
           pg_catalog.jsonb_build_object('component', o.component), o.cpu_seconds_total, 'counter'
      FROM @extschema@.pg_postmaster_stats_overhead() o
     WHERE pg_catalog.strpos(o.component, ':') OPERATOR(pg_catalog.=) 0
    UNION ALL
    -- attribution: the 10 clients with the highest connection rate and the
    -- 10 queries that launched the most parallel workers; labels without
    -- the client address, so that the number of series stays bounded
    SELECT 'connection_setup', v.name,
           pg_catalog.jsonb_build_object('database', coalesce(t.database::text, ''),
                                         'role', coalesce(t.role::text, ''),
                                         'application_name', coalesce(t.application_name, '')),
           v.value, v.kind
      FROM (SELECT c.database, c.role, c.application_name,
                   pg_catalog.sum(c.connections_per_s) AS rate,
                   pg_catalog.sum(c.connections_total) AS connections,
                   pg_catalog.sum(c.auth_failures_total) AS failures,
                   pg_catalog.sum(c.short_sessions_total) AS short_sessions
              FROM @extschema@.pg_postmaster_stats_clients() c
             GROUP BY c.database, c.role, c.application_name
             ORDER BY 4 DESC, 5 DESC, 1, 2, 3
             LIMIT 10) t
     CROSS JOIN LATERAL (VALUES
        ('pg_postmaster_client_connections_per_second', t.rate, 'gauge'),
        ('pg_postmaster_client_connections_total', t.connections::float8, 'counter'),
        ('pg_postmaster_client_auth_failures_total', t.failures::float8, 'counter'),
        ('pg_postmaster_client_short_sessions_total', t.short_sessions::float8, 'counter')
        ) AS v(name, value, kind)
    UNION ALL
    SELECT 'parallel_query', v.name,
           pg_catalog.jsonb_build_object('queryid', coalesce(q.queryid::text, ''),
                                         'database', coalesce(q.database::text, ''),
                                         'role', coalesce(q.role::text, '')),
           v.value, 'counter'
      FROM (SELECT * FROM @extschema@.pg_postmaster_stats_parallel_queries()
             ORDER BY workers_launched_total DESC, executions_total DESC,
                      queryid, database, role
             LIMIT 10) q
     CROSS JOIN LATERAL (VALUES
        ('pg_postmaster_parallel_query_executions_total', q.executions_total::float8),
        ('pg_postmaster_parallel_query_workers_planned_total', q.workers_planned_total::float8),
        ('pg_postmaster_parallel_query_workers_launched_total', q.workers_launched_total::float8)
        ) AS v(name, value)
    UNION ALL
    SELECT v.*
      FROM @extschema@.pg_postmaster_stats_attribution() a
     CROSS JOIN LATERAL (VALUES
        ('connection_setup', 'pg_postmaster_clients_dealloc_total', '{}'::jsonb, a.clients_dealloc_total::float8, 'counter'),
        ('parallel_query', 'pg_postmaster_parallel_queries_dealloc_total', '{}', a.parallel_queries_dealloc_total, 'counter')
        ) AS v
    UNION ALL
    SELECT NULL, 'pg_postmaster_stats_source_active', pg_catalog.jsonb_build_object('source', s.source),
           s.active::int, 'gauge'
      FROM sources s
    UNION ALL
    -- a standby's own replay (one local_replay row while in recovery)
    SELECT 'replay', v.*
      FROM replay r
     CROSS JOIN LATERAL (VALUES
        ('pg_postmaster_replay_lag_bytes', '{}'::jsonb, r.replay_lag_bytes::float8, 'gauge'),
        ('pg_postmaster_replay_lag_seconds', '{}', r.replay_lag_seconds, 'gauge'),
        ('pg_postmaster_replay_paused', '{}', r.replay_paused::int, 'gauge'),
        ('pg_postmaster_replay_receive_rate_bytes_per_second', '{}', r.receive_rate_bytes_per_s, 'gauge'),
        ('pg_postmaster_replay_rate_bytes_per_second', '{}', r.replay_rate_bytes_per_s, 'gauge'),
        ('pg_postmaster_replay_startup_cpu_busy_ratio', '{}', r.startup_cpu_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('pg_postmaster_replay_startup_cpu_wait_ratio', '{}', r.startup_cpu_wait_pct OPERATOR(pg_catalog./) 100, 'gauge'),
        ('pg_postmaster_replay_capacity_bytes_per_second', '{}', r.replay_capacity_bytes_per_s, 'gauge'),
        ('pg_postmaster_replay_headroom_ratio', '{}', r.replay_headroom, 'gauge'),
        ('pg_postmaster_replay_catchup_seconds', '{}', r.catchup_seconds, 'gauge')
        ) AS v
     WHERE r.kind OPERATOR(pg_catalog.=) 'local_replay'
    UNION ALL
    -- a primary's standbys, one series per walsender
    SELECT 'replay', v.name, pg_catalog.jsonb_build_object('application_name', coalesce(r.application_name, ''),
                                               'walsender_pid', r.walsender_pid::text),
           v.value, 'gauge'
      FROM replay r
     CROSS JOIN LATERAL (VALUES
        ('pg_postmaster_standby_replay_lag_bytes', r.replay_lag_bytes::float8),
        ('pg_postmaster_standby_replay_lag_seconds', r.replay_lag_seconds)
        ) AS v(name, value)
     WHERE r.kind OPERATOR(pg_catalog.=) 'standby'
    UNION ALL
    -- one series per finding: 1 while it holds over the last minute, else 0
    SELECT NULL, 'pg_postmaster_diagnosis_active',
           pg_catalog.jsonb_build_object('finding', r.finding, 'severity', r.severity),
           CASE WHEN d.finding IS NULL THEN 0 ELSE 1 END, 'gauge'
      FROM (SELECT DISTINCT rr.finding, rr.severity
              FROM @extschema@.pg_postmaster_stats_diagnosis_rules() rr) r
      LEFT JOIN @extschema@.pg_postmaster_stats_diagnosis d
        ON d.finding OPERATOR(pg_catalog.=) r.finding
)
SELECT m.name, m.labels, m.value, m.kind
  FROM m
 WHERE m.value IS NOT NULL
   AND (m.source IS NULL
        OR m.source OPERATOR(pg_catalog.=) ANY (SELECT source FROM sources WHERE active));

COMMENT ON VIEW @extschema@.pg_postmaster_stats_metrics IS
    'Every metric in Prometheus naming, one row per sample; inactive sources are left out';
GRANT SELECT ON @extschema@.pg_postmaster_stats_metrics TO pg_monitor;
-- END pg_postmaster_stats_metrics
-- ====================================================================

