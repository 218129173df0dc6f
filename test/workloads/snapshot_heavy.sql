-- Snapshot-heavy load: every transaction assigns an xid and commits it.  A
-- session reuses its previous snapshot only while no xid-bearing transaction
-- has completed (GetSnapshotDataReuse, PostgreSQL 14+), so with a few of
-- these clients nearly every snapshot in the server is a full
-- GetSnapshotData(), whose cost grows with the connections held open.
--   pgbench -n -c 4 -j 2 -T seconds -f snapshot_heavy.sql
SELECT txid_current();
