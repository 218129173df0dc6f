-- pgbench script that holds its connection idle: each "transaction" is a
-- client-side sleep, so N clients keep N idle sessions open, like the
-- article's \sleep scripts (shared/reference/002_*).
--   pgbench -n -c N -j 4 -T seconds -f idle_connections.sql
\sleep 1 s
