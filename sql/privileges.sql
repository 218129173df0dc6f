-- Views are for pg_monitor; the reset is not for PUBLIC.
CREATE ROLE pps_nobody LOGIN;
CREATE ROLE pps_watcher LOGIN IN ROLE pg_monitor;

SELECT fn, has_function_privilege('pps_nobody', fn, 'EXECUTE') AS nobody,
       has_function_privilege('pps_watcher', fn, 'EXECUTE') AS watcher
  FROM unnest(ARRAY['pg_postmaster_stats_current()', 'pg_postmaster_stats_history()',
                    'pg_postmaster_stats_latency()', 'pg_postmaster_stats_children()',
                    'pg_postmaster_stats_sources()', 'pg_postmaster_stats_bgworkers()',
                    'pg_postmaster_stats_snapshot_probe()', 'pg_postmaster_stats_limits()',
                    'pg_postmaster_stats_reset()']) fn
 ORDER BY fn;

SET ROLE pps_watcher;
SELECT count(*) FROM pg_postmaster_stats;
SELECT count(*) > 0 AS readable FROM pg_postmaster_stats_sources;
SELECT count(*) AS readable FROM pg_postmaster_stats_bgworkers;
SELECT count(*) AS readable FROM pg_postmaster_stats_snapshot;
SELECT count(*) >= 0 AS readable FROM pg_postmaster_stats_limits;
SELECT pg_postmaster_stats_reset();
RESET ROLE;

SET ROLE pps_nobody;
SELECT count(*) FROM pg_postmaster_stats;
SELECT * FROM pg_postmaster_stats_current();
SELECT pg_postmaster_stats_reset();
RESET ROLE;

-- replay
SELECT has_function_privilege('pps_nobody', 'pg_postmaster_stats_replay()', 'EXECUTE') AS nobody,
       has_function_privilege('pps_watcher', 'pg_postmaster_stats_replay()', 'EXECUTE') AS watcher;
SET ROLE pps_watcher;
SELECT count(*) AS readable FROM pg_postmaster_stats_replay;
RESET ROLE;
SET ROLE pps_nobody;
SELECT count(*) FROM pg_postmaster_stats_replay;
RESET ROLE;
-- end of replay

-- attribution
SELECT fn, has_function_privilege('pps_nobody', fn, 'EXECUTE') AS nobody,
       has_function_privilege('pps_watcher', fn, 'EXECUTE') AS watcher
  FROM unnest(ARRAY['pg_postmaster_stats_clients()', 'pg_postmaster_stats_parallel_queries()',
                    'pg_postmaster_stats_attribution()',
                    'pg_postmaster_stats_reset_clients()']) fn
 ORDER BY fn;
SET ROLE pps_watcher;
SELECT count(*) >= 0 AS readable FROM pg_postmaster_stats_clients;
SELECT count(*) >= 0 AS readable FROM pg_postmaster_stats_parallel_queries;
SELECT pg_postmaster_stats_reset_clients();
RESET ROLE;
SET ROLE pps_nobody;
SELECT count(*) FROM pg_postmaster_stats_clients;
RESET ROLE;
-- end of attribution

DROP ROLE pps_nobody;
DROP ROLE pps_watcher;
