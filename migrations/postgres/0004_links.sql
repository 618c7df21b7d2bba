-- Linking a device by code (PostgreSQL; as migrations/sqlite/0006): a
-- new device asks for a link and shows its code, a signed-in device
-- approves or denies it, the new device (which alone holds the secret)
-- takes its tokens once.  id is random (l_ + 32 hex digits); code the
-- canonical 8 symbols of Crockford's base32, unique among the links
-- kept; secret_hash the SHA-256 of the secret, never the secret;
-- user_id the approver's user once approved.  Kept an hour past
-- expires_at, then deleted by the sweeper.
CREATE TABLE links (
	id		text COLLATE "C" PRIMARY KEY,
	code		text COLLATE "C" NOT NULL UNIQUE,
	secret_hash	bytea NOT NULL,
	device_id	text COLLATE "C" NOT NULL,
	platform	text NOT NULL,
	name		text NOT NULL,
	status		text COLLATE "C" NOT NULL DEFAULT 'pending' CHECK
			    (status IN ('pending', 'approved', 'denied',
			    'handed_out')),
	user_id		bigint REFERENCES users(id),
	created_at	bigint NOT NULL,
	expires_at	bigint NOT NULL,
	decided_at	bigint
);
CREATE INDEX links_expires ON links (expires_at);

-- Wrong codes given to approve and deny, per user, for the limit of 5
-- within 10 minutes (counted here, so that it holds across hosts; each
-- check and count runs under the user's row lock).  Rows older than the
-- window are deleted by the sweeper.
CREATE TABLE link_misses (
	user_id		bigint NOT NULL,
	at		bigint NOT NULL
);
CREATE INDEX link_misses_user ON link_misses (user_id, at);
CREATE INDEX link_misses_at ON link_misses (at);
