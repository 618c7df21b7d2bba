-- Service keys (PostgreSQL; as migrations/sqlite/0007): an app's backend
-- reaches its users' devices with a key that `tandemd key create NAME
-- --scope ...` prints once.  Only the key's SHA-256 is kept; the token
-- check looks the key up by it.  scopes is the canonical list: "events",
-- "records" or "events,records".  last_used_at is written at most every
-- few seconds per key.
--
-- 0004 belongs to another change (links); this file depends on no table
-- of it, and the runner applies every file it has not applied yet, in
-- name order, so either may be applied first.
CREATE TABLE service_keys (
	name		text COLLATE "C" NOT NULL PRIMARY KEY
	    CHECK (name ~ '^[a-z0-9_-]{1,64}$'),
	key_hash	bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
	scopes		text COLLATE "C" NOT NULL
	    CHECK (scopes IN ('events', 'records', 'events,records')),
	created_at	bigint NOT NULL,
	last_used_at	bigint
);
