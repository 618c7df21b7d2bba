-- Sessions, messages, the primary device and the session lock.
-- Times are milliseconds since the epoch.

-- One row per chat session of a user.  The primary role and the lock live
-- on the row itself, so every change to them is one conditional UPDATE
-- inside a BEGIN IMMEDIATE transaction: two holders cannot exist.
-- primary_epoch and lock_token survive releases (fencing counters).
CREATE TABLE sessions (
	user_id		INTEGER NOT NULL REFERENCES users(id),
	id		TEXT NOT NULL,
	title		TEXT,
	created_at	INTEGER NOT NULL,
	killed_at	INTEGER,
	kill_reason	TEXT,
	primary_device	TEXT,			-- NULL: nobody holds the role
	primary_epoch	INTEGER NOT NULL DEFAULT 0,
	primary_expires_at INTEGER,
	lock_device	TEXT,			-- NULL: not locked
	lock_token	INTEGER NOT NULL DEFAULT 0,
	lock_expires_at	INTEGER,
	message_count	INTEGER NOT NULL DEFAULT 0,	-- also the last seq
	last_message_at	INTEGER,
	PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
-- The sweeper's look-ups: leases and locks that lapsed.
CREATE INDEX sessions_primary_lease ON sessions (primary_expires_at)
	WHERE primary_device IS NOT NULL;
CREATE INDEX sessions_lock_lease ON sessions (lock_expires_at)
	WHERE lock_device IS NOT NULL;

-- Messages: id is the server's id (a rowid, unique across the server),
-- seq counts per session from 1.  body is the canonical (RFC 8785) text;
-- hash is "sha256:" + hex of it.
CREATE TABLE messages (
	id		INTEGER PRIMARY KEY,
	user_id		INTEGER NOT NULL,
	session_id	TEXT NOT NULL,
	seq		INTEGER NOT NULL,
	device_id	TEXT NOT NULL,
	client_msg_id	TEXT NOT NULL,
	hash		TEXT NOT NULL,
	body		TEXT NOT NULL,
	created_at	INTEGER NOT NULL,
	FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, id),
	UNIQUE (user_id, session_id, seq),
	UNIQUE (user_id, session_id, device_id, client_msg_id)
);
CREATE INDEX messages_hash ON messages (user_id, session_id, hash,
	created_at);

-- Who took part in a session (sent a message, claimed or renewed the
-- primary role) and when: failover hands the role to the online device
-- that took part most recently.  act_seq orders ties within a millisecond.
CREATE TABLE session_participants (
	user_id		INTEGER NOT NULL,
	session_id	TEXT NOT NULL,
	device_id	TEXT NOT NULL,
	last_active_at	INTEGER NOT NULL,
	act_seq		INTEGER NOT NULL,
	FOREIGN KEY (user_id, session_id) REFERENCES sessions (user_id, id),
	PRIMARY KEY (user_id, session_id, device_id)
) WITHOUT ROWID;
