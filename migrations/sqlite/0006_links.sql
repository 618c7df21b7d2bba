-- Linking a device by code (API.md "Linking a device without its
-- password"): a new device asks for a link (POST /auth/link) and shows
-- its code; a signed-in device approves or denies it; the new device,
-- which alone holds the secret, takes its tokens once.
--
-- id is random (l_ + 32 hex digits); code is the canonical 8 symbols of
-- Crockford's base32 (what POST /links/approve looks up), unique among
-- the links kept; secret_hash the SHA-256 of the secret (the secret
-- itself is never stored); the device as the new device named it;
-- user_id the approver's user once approved.  A link is kept an hour
-- past expires_at (so that a late token call learns LINK_EXPIRED), then
-- the sweeper deletes it.
CREATE TABLE links (
	id		TEXT PRIMARY KEY,
	code		TEXT NOT NULL UNIQUE,
	secret_hash	BLOB NOT NULL,
	device_id	TEXT NOT NULL,
	platform	TEXT NOT NULL,
	name		TEXT NOT NULL,
	status		TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
			    ('pending', 'approved', 'denied', 'handed_out')),
	user_id		INTEGER REFERENCES users(id),
	created_at	INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL,
	decided_at	INTEGER
);
-- The sweeper's prune.
CREATE INDEX links_expires ON links (expires_at);

-- Wrong codes given to POST /links/approve and /links/deny, one row
-- each, for the limit of 5 within 10 minutes per user: counted in the
-- database, so that it holds across worker processes and hosts.  The
-- sweeper deletes rows older than the window.
CREATE TABLE link_misses (
	user_id		INTEGER NOT NULL,
	at		INTEGER NOT NULL
);
CREATE INDEX link_misses_user ON link_misses (user_id, at);
CREATE INDEX link_misses_at ON link_misses (at);
