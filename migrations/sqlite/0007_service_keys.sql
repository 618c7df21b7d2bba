-- Service keys (1.1): an app's backend reaches its users' devices with a
-- key that `tandemd key create NAME --scope ...` prints once.  Only the
-- key's SHA-256 is kept; the token check looks the key up by it.  scopes
-- is the canonical list: "events", "records" or "events,records".
-- last_used_at is written at most every few seconds per key.
--
-- 0006 belongs to another change (links); this file depends on no table
-- of it, and the runner applies every file it has not applied yet, in
-- name order, so either may be applied first.
CREATE TABLE service_keys (
	name		TEXT NOT NULL PRIMARY KEY
	    CHECK (length(name) BETWEEN 1 AND 64 AND
	    name NOT GLOB '*[^a-z0-9_-]*'),
	key_hash	BLOB NOT NULL UNIQUE CHECK (length(key_hash) = 32),
	scopes		TEXT NOT NULL
	    CHECK (scopes IN ('events', 'records', 'events,records')),
	created_at	INTEGER NOT NULL,
	last_used_at	INTEGER
);
