-- Sync: records (latest state, tombstones included), their bounded
-- revision history (the bases of three-way merges) and stored conflicts.
-- version is the server clock (microseconds, strictly increasing, in
-- commit order); data is canonical JSON (RFC 8785) text, NULL for a
-- tombstone; checksum is "sha256:" over that text ("null" for tombstones).

CREATE TABLE records (
	user_id		INTEGER NOT NULL REFERENCES users(id),
	collection	TEXT NOT NULL,
	record_id	TEXT NOT NULL,
	version		INTEGER NOT NULL,
	data		TEXT,
	deleted		INTEGER NOT NULL DEFAULT 0,
	modified_at	INTEGER NOT NULL,	-- device clock, ms
	device_id	TEXT,			-- the writer
	checksum	TEXT NOT NULL,
	UNIQUE (user_id, collection, record_id)
);
-- Pull pages and the user's cursor: version > since in version order.
CREATE UNIQUE INDEX records_user_version ON records (user_id, version);
-- The sweeper's purge of old tombstones.
CREATE INDEX records_tombstones ON records (version) WHERE deleted = 1;

-- Per-collection counts, kept by every record write and purge so that
-- GET /collections and /sync/stats cost the same at 1 k or 1 M records.
CREATE TABLE collections (
	user_id		INTEGER NOT NULL,
	name		TEXT NOT NULL,
	records		INTEGER NOT NULL DEFAULT 0,	-- live
	tombstones	INTEGER NOT NULL DEFAULT 0,
	last_version	INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, name)
) WITHOUT ROWID;

-- Previous states of each record, newest TANDEM_HISTORY_KEEP kept.
CREATE TABLE revisions (
	user_id		INTEGER NOT NULL,
	collection	TEXT NOT NULL,
	record_id	TEXT NOT NULL,
	version		INTEGER NOT NULL,
	data		TEXT,
	deleted		INTEGER NOT NULL,
	modified_at	INTEGER NOT NULL,
	device_id	TEXT,
	PRIMARY KEY (user_id, collection, record_id, version)
);

-- A conflict keeps both sides as they were when it was stored: the
-- client's change and the server's record (server_version 0 and no data
-- when the record did not exist).
CREATE TABLE conflicts (
	id			INTEGER PRIMARY KEY,
	user_id			INTEGER NOT NULL REFERENCES users(id),
	collection		TEXT NOT NULL,
	record_id		TEXT NOT NULL,
	device_id		TEXT,
	created_at		INTEGER NOT NULL,
	base_version		INTEGER NOT NULL,
	client_data		TEXT,
	client_deleted		INTEGER NOT NULL,
	client_modified_at	INTEGER NOT NULL,
	server_version		INTEGER NOT NULL,
	server_data		TEXT,
	server_deleted		INTEGER NOT NULL,
	server_modified_at	INTEGER,
	status			TEXT NOT NULL DEFAULT 'open'
				CHECK (status IN ('open', 'resolved')),
	resolved_at		INTEGER,
	resolution		TEXT CHECK (resolution IN
				('server', 'client', 'merged')),
	resolved_by		TEXT,
	resolved_version	INTEGER
);
CREATE INDEX conflicts_user_status ON conflicts (user_id, status, id);
-- A retried push finds the open conflict it stored before.
CREATE INDEX conflicts_record ON conflicts (user_id, collection, record_id)
	WHERE status = 'open';
