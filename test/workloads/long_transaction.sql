-- A long transaction holding an xid (and so the xmin horizon): run it in a
-- session and leave it open; every snapshot then carries this xid.
BEGIN;
SELECT txid_current();
