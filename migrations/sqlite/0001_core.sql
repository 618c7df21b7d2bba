-- Core schema: the server clock, users, devices, refresh tokens, events.
-- Times are milliseconds since the epoch unless the name says _us.

CREATE TABLE server_clock (
	id	INTEGER PRIMARY KEY CHECK (id = 1),
	last_us	INTEGER NOT NULL
);
INSERT INTO server_clock (id, last_us) VALUES (1, 0);

CREATE TABLE users (
	id		INTEGER PRIMARY KEY,
	public_id	TEXT NOT NULL UNIQUE,
	email		TEXT NOT NULL UNIQUE COLLATE NOCASE,
	password_hash	TEXT NOT NULL,
	created_at	INTEGER NOT NULL,
	event_seq	INTEGER NOT NULL DEFAULT 0,
	event_floor	INTEGER NOT NULL DEFAULT 0,	-- newest pruned seq
	purge_floor	INTEGER NOT NULL DEFAULT 0	-- newest purged tombstone version
);

-- A device row outlives revocation so that logging in again from it
-- re-activates it; `family` names its current login: access tokens carry
-- it in their jti and die with it.
CREATE TABLE devices (
	user_id		INTEGER NOT NULL REFERENCES users(id),
	id		TEXT NOT NULL,
	platform	TEXT NOT NULL,
	name		TEXT NOT NULL,
	push_token	TEXT,
	created_at	INTEGER NOT NULL,
	last_seen_at	INTEGER,
	online		INTEGER NOT NULL DEFAULT 0,	-- as last announced
	revoked_at	INTEGER,
	family		TEXT,
	last_push_at	INTEGER,
	last_pull_at	INTEGER,
	PRIMARY KEY (user_id, id)
) WITHOUT ROWID;

CREATE TABLE refresh_tokens (
	token_hash	BLOB PRIMARY KEY,	-- SHA-256 of the token
	user_id		INTEGER NOT NULL REFERENCES users(id),
	device_id	TEXT NOT NULL,
	family		TEXT NOT NULL,
	created_at	INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL,
	spent_at	INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE events (
	user_id		INTEGER NOT NULL REFERENCES users(id),
	seq		INTEGER NOT NULL,
	type		TEXT NOT NULL,
	at		INTEGER NOT NULL,
	device_id	TEXT,
	session_id	TEXT,
	data		TEXT NOT NULL,
	PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_at ON events (at);
