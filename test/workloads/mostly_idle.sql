-- "Mostly idle" connections: one trivial query every 100 ms per client.
--   pgbench -n -c N -j 4 -T seconds -f mostly_idle.sql
SELECT 1;
\sleep 100 ms
