-- Overflow the subtransaction cache (PGPROC_MAX_CACHED_SUBXIDS = 64): one
-- transaction with 70 subtransactions that each get an xid.  Keep the
-- transaction open to keep every snapshot "suboverflowed" (from the moment
-- any later transaction completes: snapshots only look at running xids
-- below their xmax):
--   psql -f subxact_overflow.sql   (then COMMIT in the same session)
CREATE TABLE IF NOT EXISTS pps_subxact_overflow (i int);
BEGIN;
DO $$
BEGIN
    FOR i IN 1..70 LOOP
        BEGIN
            INSERT INTO pps_subxact_overflow VALUES (i);
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;
END
$$;
