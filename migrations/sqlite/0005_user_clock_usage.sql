-- The per-user clock, usage counters for quotas, and who wrote as a
-- service.
--
-- Versions come from a clock row per user (users.clock_us, moved as
-- max(now_us, last + 1) inside the write transaction), not one row for
-- the server: two users' writers never wait on one row, and a user's
-- versions stay unique and in commit order, which is all a pull cursor
-- needs.  Every user starts from the server clock's last value, so no
-- new version falls below one handed out before.
ALTER TABLE users ADD COLUMN clock_us INTEGER NOT NULL DEFAULT 0;
UPDATE users SET clock_us = (SELECT last_us FROM server_clock WHERE id = 1);
DROP TABLE server_clock;

-- Usage for TANDEM_QUOTA_BYTES and TANDEM_QUOTA_RECORDS: the bytes of
-- canonical record data (a tombstone counts as its canonical "null", 4
-- bytes) and of message bodies, and the records, tombstones included.
ALTER TABLE users ADD COLUMN usage_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN usage_records INTEGER NOT NULL DEFAULT 0;
UPDATE users SET
	usage_bytes = coalesce((SELECT sum(coalesce(length(CAST(data AS BLOB)),
	    4)) FROM records r WHERE r.user_id = users.id), 0) +
	    coalesce((SELECT sum(length(CAST(body AS BLOB))) FROM messages m
	    WHERE m.user_id = users.id), 0),
	usage_records = (SELECT count(*) FROM records r
	    WHERE r.user_id = users.id);

-- A write by an app's backend through a service key carries the key's
-- name here and a NULL device_id.
ALTER TABLE records ADD COLUMN service TEXT;
ALTER TABLE revisions ADD COLUMN service TEXT;
ALTER TABLE events ADD COLUMN service TEXT;

-- GET /sessions pages in creation order.
CREATE INDEX sessions_created ON sessions (user_id, created_at, id);
