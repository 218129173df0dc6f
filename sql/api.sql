-- The SQL surface: every view, its columns in order, and their types.
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 WHERE c.relname LIKE 'pg_postmaster_stats%' AND c.relkind = 'v'
   AND a.attnum > 0
 ORDER BY c.relname, a.attnum;

-- Every function is VOLATILE: these are live data.
SELECT proname, provolatile FROM pg_proc
 WHERE proname LIKE 'pg_postmaster_stats%' ORDER BY proname;

-- Wait for the sampler's first samples (sample_interval is 200 ms here) and
-- for the probe worker, which starts once the server is consistent.
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN (SELECT samples_total FROM pg_postmaster_stats) >= 3
          AND (SELECT bool_and(active) FROM pg_postmaster_stats_sources
                WHERE source NOT IN ('ebpf', 'replay'));
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;

-- One row, with the postmaster and the worker identified.
SELECT count(*) AS rows,
       bool_and(worker_pid > 0) AS worker_running,
       bool_and(sampled_at IS NOT NULL) AS sampled,
       bool_and(postmaster_cpu_pct >= 0) AS cpu_ok,
       bool_and(postmaster_rss_bytes > 0 AND postmaster_pagetable_bytes > 0) AS memory_ok,
       bool_and(accept_queue_depth = 0 AND accept_queue_max > 0) AS queue_ok,
       bool_and(listen_sockets >= 1) AS listening,
       bool_and(connections_total >= 1) AS counted_me,
       bool_and(worker_starts_total = 1) AS started_once
  FROM pg_postmaster_stats;

-- The postmaster_pid column is the real postmaster: the parent of this backend.
SELECT postmaster_pid = (SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' ', 4)::int)
       AS is_my_parent
  FROM pg_postmaster_stats;

-- Every source is named and active on Linux; eBPF depends on the loader's
-- capabilities (TAP test 012 covers it); replay is inactive on a server that
-- is neither a standby nor a primary with standbys (TAP test 011 covers it).
SELECT source, CASE WHEN source = 'ebpf' THEN 'optional' ELSE active::text END AS active
  FROM pg_postmaster_stats_sources ORDER BY source;

-- Replay on such a server: no rows, no error, and the sources view says why;
-- the WAL generation rate is still sampled, the standby columns are NULL.
SELECT count(*) AS replay_rows FROM pg_postmaster_stats_replay;
SELECT detail FROM pg_postmaster_stats_sources WHERE source = 'replay';
SELECT count(wal_generated_bytes_per_s) > 0 AS wal_rate_sampled,
       count(replay_lag_bytes) + count(replay_rate_bytes_per_s) + count(startup_cpu_pct)
         + count(replay_headroom) + count(replay_lag_seconds) AS standby_values
  FROM pg_postmaster_stats_history;

-- Histogram buckets are cumulative, end at +Infinity, and the last one counts
-- every connection since the reset.
SELECT metric, count(*) AS buckets,
       max(le_seconds) = 'Infinity' AS ends_at_inf,
       bool_and(le_seconds > 0) AS positive_bounds
  FROM pg_postmaster_stats_latency GROUP BY metric;
SELECT bool_and(ok) AS cumulative FROM (
  SELECT count >= lag(count, 1, 0::bigint) OVER (ORDER BY le_seconds) AS ok
    FROM pg_postmaster_stats_latency WHERE metric = 'connection_setup') s;
SELECT (SELECT count FROM pg_postmaster_stats_latency
         WHERE metric = 'connection_setup' AND le_seconds = 'Infinity')
     = (SELECT connections_total FROM pg_postmaster_stats) AS inf_bucket_is_total;
-- sum_seconds is the histogram's total, the same on every row of a metric.
SELECT metric, count(DISTINCT sum_seconds) AS one_sum_per_metric,
       bool_and(sum_seconds >= 0) AS non_negative
  FROM pg_postmaster_stats_latency GROUP BY metric ORDER BY metric;
SELECT (SELECT sum_seconds FROM pg_postmaster_stats_latency
         WHERE metric = 'connection_setup' AND le_seconds = 'Infinity')
     = (SELECT connection_setup_seconds_total FROM pg_postmaster_stats) AS sum_is_setup_total;

-- This session is a client backend; the checkpointer always runs.
SELECT backend_type, children >= 1 AS present FROM pg_postmaster_stats_children
 WHERE backend_type IN ('client backend', 'checkpointer') ORDER BY 1;
SELECT count(*) FILTER (WHERE backend_type = 'unregistered') AS unregistered_row
  FROM pg_postmaster_stats_children;

-- History: oldest first, first column "time", rates only after the first sample.
SELECT count(*) >= 3 AS has_rows,
       bool_and(interval_seconds > 0 OR interval_seconds IS NULL) AS intervals_positive
  FROM pg_postmaster_stats_history;
SELECT bool_and(t > prev) AS ordered FROM (
  SELECT "time" AS t, lag("time") OVER (ORDER BY "time") AS prev
    FROM pg_postmaster_stats_history) s WHERE prev IS NOT NULL;

-- Reset zeroes the counters and moves stats_reset, and keeps the history.
SELECT count(*) AS history_before FROM pg_postmaster_stats_history \gset
SELECT stats_reset AS reset_before FROM pg_postmaster_stats \gset
SELECT pg_postmaster_stats_reset();
SELECT connections_total, auth_failures_total, connection_setup_seconds_total,
       stats_reset > :'reset_before' AS reset_moved
  FROM pg_postmaster_stats;
SELECT sum(count) AS histogram_after_reset, max(sum_seconds) AS sum_after_reset
  FROM pg_postmaster_stats_latency WHERE metric = 'connection_setup';
SELECT count(*) >= :history_before AS history_kept FROM pg_postmaster_stats_history;

-- Shared memory footprint at the default history_size (3600): under 2 MB.
SELECT name, size < 2 * 1024 * 1024 AS under_2mb, size
  FROM pg_shmem_allocations WHERE name = 'pg_postmaster_stats';
SHOW pg_postmaster_stats.history_size;

-- attribution: the reset above emptied the clients view; a new session is
-- a client there, over a Unix socket (no address); the eviction counters
-- end the main view
SELECT count(*) AS clients_after_full_reset FROM pg_postmaster_stats_clients;
\c
SELECT role = current_user AS role_as_asked, client_addr IS NULL AS unix_socket,
       connections_total >= 1 AS counted, auth_failures_total,
       setup_seconds_sum > 0 AS setup_timed, first_seen <= last_seen AS seen_in_order
  FROM pg_postmaster_stats_clients
 WHERE database = current_database()
   AND application_name = current_setting('application_name');
SELECT clients_dealloc_total, parallel_queries_dealloc_total FROM pg_postmaster_stats;
-- reset_clients empties that view only
SELECT pg_postmaster_stats_reset_clients();
SELECT count(*) AS clients_after_reset FROM pg_postmaster_stats_clients;
SELECT connections_total > 0 AS others_kept FROM pg_postmaster_stats;
SHOW pg_postmaster_stats.max_clients;
SHOW pg_postmaster_stats.max_parallel_queries;
