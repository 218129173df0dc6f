-- Parallel-query churn, after the bg_worker_churn() reproduction in the
-- Recall.ai article (shared/reference/000_*): every query launches parallel
-- workers, i.e. one postmaster fork and reap per worker.
--
--   SELECT pps_churn_setup();                     -- once per database
--   SELECT pps_parallel_churn(iterations, workers_per_query);
--
-- The planner plans exactly workers_per_query workers per query
-- (max_parallel_workers_per_gather caps the table's parallel_workers of 64);
-- how many are launched depends on max_worker_processes and
-- max_parallel_workers.  Concurrency comes from running it in several
-- sessions (test/workloads/parallel_churn.sh).

CREATE OR REPLACE FUNCTION pps_churn_setup(nrows integer DEFAULT 100000)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    DROP TABLE IF EXISTS pps_churn_data;
    CREATE TABLE pps_churn_data (id bigint) WITH (parallel_workers = 64);
    INSERT INTO pps_churn_data SELECT generate_series(1, nrows);
    ANALYZE pps_churn_data;
END
$fn$;

CREATE OR REPLACE FUNCTION pps_parallel_churn(iterations integer,
                                              workers_per_query integer DEFAULT 2)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    -- transaction-local settings that make every scan a parallel one
    PERFORM set_config('parallel_setup_cost', '0', true);
    PERFORM set_config('parallel_tuple_cost', '0', true);
    PERFORM set_config('min_parallel_table_scan_size', '0', true);
    PERFORM set_config('min_parallel_index_scan_size', '0', true);
    PERFORM set_config('enable_indexscan', 'off', true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    PERFORM set_config('parallel_leader_participation', 'off', true);
    PERFORM set_config('max_parallel_workers_per_gather', workers_per_query::text, true);
    FOR i IN 1..iterations LOOP
        PERFORM sum(id) FROM pps_churn_data;
    END LOOP;
END
$fn$;
