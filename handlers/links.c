/*
 * Links (API.md "Linking a device without its password"): a new device
 * asks for a link and shows its code (POST /auth/link), a signed-in
 * device approves or denies the code (POST /links/approve, /links/deny),
 * and the new device, which alone holds the link's secret, waits for
 * the decision and takes its tokens, once (POST /auth/link/{id}/token).
 * The codes are lib/links_rules.c's; the tokens and the device's login
 * are login's own (handlers/auth.c: login_device, tokens_answer).
 *
 * A token call that finds its link pending waits like a long poll,
 * without a thread (lib/park, with callbacks of its own): the link has
 * no user yet, so it waits on a doorbell key of the link's
 * (link_ring_key), which an approval or a denial rings after its commit,
 * in every worker process of the host and, through the engine's notify,
 * on the other hosts.  Its connection is watched: a client that goes
 * away frees its wait at once.  What a wake decides runs on the park
 * thread: one read, and for an approved link the hand-out's write
 * transaction (rare: once per link).  Each wait counts as a waiting
 * poll (longpoll_waiting), and a link holds at most
 * TANDEM_MAX_WAITS_PER_DEVICE of them at once (on each host: lib/waits).
 *
 * The wrong-code limit counts in the database (link_misses), so it holds
 * across worker processes and hosts: each check and its count run in the
 * caller's user's write transaction.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "doorbell.h"
#include "handlers.h"
#include "links_rules.h"
#include "log.h"
#include "park.h"
#include "problem.h"
#include "rand.h"
#include "stats.h"
#include "waits.h"

#define LINK_TIMEOUT_DEF	25
/* Kept past their expiry so that a late token call learns LINK_EXPIRED. */
#define LINK_KEEP_MS		(60 * 60 * 1000)
/* A new link's id or code taken already (a random clash): tries. */
#define LINK_INSERT_TRIES	4
/* The longest sleep between two looks at the client, without park. */
#define LINK_SLICE_MS		1000
/* Retry-After of a token call refused: its link has too many waiting. */
#define LINK_WAIT_RETRY_S	2

/* The outcome of a link operation, mapped to an answer by link_outcomes[]. */
enum link_outcome {
	LINK_OUT_OK,		/* the operation's own answer */
	LINK_OUT_PENDING,	/* a token call: still pending */
	LINK_OUT_NOT_FOUND,
	LINK_OUT_DENIED,
	LINK_OUT_EXPIRED,
	LINK_OUT_DEVICE_LIMIT,
	LINK_OUT_LIMITED,	/* the wrong-code limit */
	LINK_OUT__MAX
};

/* The answer of every outcome but the operations' own (200, 202). */
static const struct outcome link_outcomes[LINK_OUT__MAX] = {
	[LINK_OUT_NOT_FOUND] = { 404, "LINK_NOT_FOUND", "no such link, or "
	    "a wrong secret; a code must be a pending link's 8 symbols",
	    NULL, NULL, NULL },
	[LINK_OUT_DENIED] = { 403, "LINK_DENIED", "the link was denied",
	    NULL, NULL, NULL },
	[LINK_OUT_EXPIRED] = { 410, "LINK_EXPIRED", "the link expired, or "
	    "its tokens were handed out already: ask for a new link", NULL,
	    NULL, NULL },
	/* login's answer, with max_devices (device_limit_answer) */
	[LINK_OUT_DEVICE_LIMIT] = { 403, "DEVICE_LIMIT_EXCEEDED", NULL, NULL,
	    NULL, NULL },
	/* with the wait left: Retry-After and retry_after_s */
	[LINK_OUT_LIMITED] = { 429, "RATE_LIMITED", "too many wrong codes; "
	    "wait until the window passes", NULL, NULL, NULL },
};

/* An error outcome's problem document; retry_ms for LINK_OUT_LIMITED. */
static int
outcome_problem(struct resp *resp, enum link_outcome o, int64_t retry_ms)
{
	const struct outcome *r = &link_outcomes[o];
	int64_t	 s;

	if (o == LINK_OUT_DEVICE_LIMIT)
		return device_limit_answer(resp);
	if (o != LINK_OUT_LIMITED)
		return problem_outcome(resp, r, NULL);
	s = (retry_ms + 999) / 1000;
	if (s < 1)
		s = 1;
	problem(resp, r->status, r->code, "%s", r->detail);
	resp_header(resp, "Retry-After", "%lld", (long long)s);
	problem_set(resp, "retry_after_s", json_integer(s));
	return resp->status;
}

/* ---- POST /auth/link ------------------------------------------------------ */

struct create_op {
	struct link_row	 l;
	int		 tries;
};

/* A fresh id and code for l (a retry draws new ones).  0 or -1. */
static int
link_draw(struct link_row *l)
{
	unsigned char	 rnd[LINK_CODE_SYMBOLS];

	if (rand_id(l->id, sizeof(l->id), "l_", 16) == -1 ||
	    rand_bytes(rnd, sizeof(rnd)) == -1)
		return -1;
	link_code_make(rnd, l->code);
	return 0;
}

static int
create_tx(struct db *db, void *arg)
{
	struct create_op *c = arg;
	int		 rc;

	for (;;) {
		if (link_draw(&c->l) == -1)
			return DB_ERROR;
		rc = db_link_insert(db, &c->l);
		if (rc != DB_CONSTRAINT || ++c->tries >= LINK_INSERT_TRIES)
			return rc;
	}
}

/*
 * POST /api/v1/auth/link {device:{id, platform, name}}
 * No token (nginx limits /auth/ per address).
 * 201 {link:{id, code, secret, status:"pending", expires_at}}: code is
 *     8 symbols of Crockford's base32 shown XXXX-XXXX, secret 32 random
 *     bytes in base64url (stored as its SHA-256 only); the link lives
 *     TANDEM_LINK_TTL_S.
 * 400 VALIDATION_FAILED (device, device.id, device.platform,
 *     device.name: as login's); 503.
 */
int
handle_auth_link(struct req *req, struct resp *resp)
{
	struct create_op c;
	char		 secret[AUTH_REFRESH_LEN + 1], shown[LINK_SHOWN_LEN + 1];
	const char	*id, *platform, *name;
	json_t		*dj;
	int64_t		 now = now_ms();
	int		 rc;

	memset(&c, 0, sizeof(c));
	if (body_object(req, resp) == -1 ||
	    device_body(req, resp, &dj, &id, &platform, &name) == -1)
		return resp->status;
	/* the secret: 32 random bytes in base64url, as a refresh token */
	if (auth_refresh_token(secret) == -1)
		return answer_db(resp, DB_ERROR);
	auth_token_hash(secret, c.l.secret_hash);
	snprintf(c.l.device_id, sizeof(c.l.device_id), "%s", id);
	snprintf(c.l.platform, sizeof(c.l.platform), "%s", platform);
	snprintf(c.l.name, sizeof(c.l.name), "%s", name);
	c.l.status = LINK_PENDING;
	c.l.created_at = now;
	c.l.expires_at = now + cfg.link_ttl_s * 1000;
	if ((rc = db_tx(req_db(req), create_tx, &c)) != DB_OK) {
		OPENSSL_cleanse(secret, sizeof(secret));
		return answer_db(resp, rc == DB_CONSTRAINT ? DB_BUSY : rc);
	}
	link_code_show(c.l.code, shown);
	resp_json(resp, 201, json_pack("{s:{s:s, s:s, s:s, s:s, s:I}}",
	    "link", "id", c.l.id, "code", shown, "secret", secret,
	    "status", "pending", "expires_at", (json_int_t)c.l.expires_at));
	OPENSSL_cleanse(secret, sizeof(secret));
	log_json(LOG_INFO, "link created", json_pack("{s:s, s:s}", "link",
	    c.l.id, "device", c.l.device_id));
	return resp->status;
}

/* ---- POST /links/approve, /links/deny -------------------------------------- */

struct decide_op {
	int64_t		 user_id;
	enum link_status to;		/* LINK_APPROVED or LINK_DENIED */
	int		 limit_only;	/* the body was bad: the limit only */
	int		 code_ok;	/* code decoded to 8 symbols */
	char		 code[LINK_CODE_SYMBOLS + 1];
	enum link_outcome out;
	int64_t		 retry_ms;
	struct link_row	 l;
};

/* A wrong code: counted, and the answer is LINK_NOT_FOUND. */
static int
decide_miss(struct db *db, struct decide_op *d, int64_t now)
{
	d->out = LINK_OUT_NOT_FOUND;
	return db_link_miss_insert(db, d->user_id, now);
}

/*
 * The wrong-code limit first (nothing written when it holds), then the
 * code: a pending, unexpired link's, else a wrong code, counted.  An
 * approval that would take the user past the device limit writes
 * nothing (the link stays pending).  The decision rings the link's
 * doorbell key, which its waiting token calls listen on.
 */
static int
decide_tx(struct db *db, void *arg)
{
	struct decide_op *d = arg;
	int64_t		 at[LINK_MISS_MAX], now = now_ms();
	size_t		 n;
	int		 rc, limited;

	d->out = LINK_OUT_OK;
	d->retry_ms = 0;
	if ((rc = db_link_misses_recent(db, d->user_id,
	    now - LINK_MISS_WINDOW_MS, at, LINK_MISS_MAX, &n)) != DB_OK)
		return rc;
	if ((d->retry_ms = link_miss_retry_ms(at, n, now)) > 0) {
		d->out = LINK_OUT_LIMITED;
		return DB_ROLLBACK;
	}
	if (d->limit_only)
		return DB_ROLLBACK;
	if (!d->code_ok)
		return decide_miss(db, d, now);
	rc = db_link_get_by_code(db, d->code, &d->l);
	if (rc == DB_NOTFOUND ||
	    (rc == DB_OK && !link_decidable(d->l.status, d->l.expires_at, now)))
		return decide_miss(db, d, now);
	if (rc != DB_OK)
		return rc;
	if (d->to == LINK_APPROVED) {
		if ((rc = login_device_limited(db, d->user_id, d->l.device_id,
		    &limited)) != DB_OK)
			return rc;
		if (limited) {
			d->out = LINK_OUT_DEVICE_LIMIT;
			return DB_ROLLBACK;
		}
	}
	rc = db_link_status_set(db, d->l.id, LINK_PENDING, d->to,
	    d->to == LINK_APPROVED ? d->user_id : 0, now);
	if (rc == DB_NOTFOUND)		/* decided meanwhile */
		return decide_miss(db, d, now);
	if (rc != DB_OK)
		return rc;
	db_ring_user(db, link_ring_key(d->l.id));
	return DB_OK;
}

/*
 * Approve or deny ("to") the code of req's body for the caller's user.
 * The wrong-code limit comes first: once it holds, every call is 429,
 * whatever its body.
 */
static int
links_decide(struct req *req, struct resp *resp, enum link_status to)
{
	struct decide_op d;
	const char	*code = NULL;
	json_t		*v;
	int		 rc;

	memset(&d, 0, sizeof(d));
	d.user_id = req->user_id;
	d.to = to;
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "code", "code", F_REQUIRED, 0, SIZE_MAX,
	    &code) == -1)
		d.limit_only = 1;	/* the 400 in resp, unless limited */
	else {
		v = json_object_get(req->json, "code");
		d.code_ok = link_code_parse(code, json_string_length(v),
		    d.code) == 0;
	}
	rc = db_tx(req_db(req), decide_tx, &d);
	if (rc != DB_OK && rc != DB_ROLLBACK)
		return answer_db(resp, rc);
	if (d.out != LINK_OUT_OK)
		return outcome_problem(resp, d.out, d.retry_ms);
	if (d.limit_only)
		return resp->status;
	log_json(LOG_INFO, to == LINK_APPROVED ? "link approved" :
	    "link denied", json_pack("{s:s, s:s, s:s}", "link", d.l.id,
	    "user", req->user_pub, "by", req->device_id));
	if (to == LINK_DENIED)
		return resp_json(resp, 200, json_pack("{s:{s:s, s:s}}",
		    "link", "id", d.l.id, "status", "denied"));
	return resp_json(resp, 200, json_pack("{s:{s:s, s:s, s:{s:s, s:s, "
	    "s:s}}}", "link", "id", d.l.id, "status", "approved", "device",
	    "id", d.l.device_id, "platform", d.l.platform, "name", d.l.name));
}

/*
 * POST /api/v1/links/approve {code}
 * 200 {link:{id, status:"approved", device:{id, platform, name}}}: the
 *     link is bound to the caller's user; its waiting token call wakes.
 * 400 VALIDATION_FAILED (field code: missing or not a string; not
 *     counted); 403 DEVICE_LIMIT_EXCEEDED (the device would take the
 *     user past TANDEM_MAX_DEVICES; the link stays pending); 404
 *     LINK_NOT_FOUND (unknown, expired or decided, or not 8 symbols:
 *     counted as a wrong code); 429 RATE_LIMITED (5 wrong codes within
 *     10 minutes: Retry-After, retry_after_s); 503.
 */
int
handle_links_approve(struct req *req, struct resp *resp)
{
	return links_decide(req, resp, LINK_APPROVED);
}

/*
 * POST /api/v1/links/deny {code}
 * 200 {link:{id, status:"denied"}}; 400, 404, 429, 503 as approve's.
 */
int
handle_links_deny(struct req *req, struct resp *resp)
{
	return links_decide(req, resp, LINK_DENIED);
}

/* ---- POST /auth/link/{id}/token -------------------------------------------- */

/* One look of a token call at its link, and what it answers. */
struct look {
	char		 id[DB_ID_CAP];
	unsigned char	 hash[32];	/* SHA-256 of the secret given */
	struct link_row	 l;
	enum link_outcome out;
	struct user_row	 u;
	struct tokens	 t;
};

static void
look_release(struct look *k)
{
	user_row_release(&k->u);
	tokens_release(&k->t);
}

/*
 * Hand the approved link's tokens out: mark it handed out (of two calls
 * racing, one moves it), then log its device in as login does.  Past the
 * device limit nothing is written and the link stays approved.
 */
static int
handout_tx(struct db *db, void *arg)
{
	struct look	*k = arg;
	struct device_row in;
	enum login_action action;
	int		 rc;

	look_release(k);
	rc = db_link_status_set(db, k->l.id, LINK_APPROVED, LINK_HANDED_OUT,
	    0, now_ms());
	if (rc == DB_NOTFOUND) {
		k->out = LINK_OUT_EXPIRED;
		return DB_ROLLBACK;
	}
	if (rc != DB_OK)
		return rc;
	if ((rc = db_user_get_by_id(db, k->l.user_id, &k->u)) != DB_OK)
		return rc == DB_NOTFOUND ? DB_ERROR : rc;
	memset(&in, 0, sizeof(in));
	snprintf(in.id, sizeof(in.id), "%s", k->l.device_id);
	snprintf(in.platform, sizeof(in.platform), "%s", k->l.platform);
	snprintf(in.name, sizeof(in.name), "%s", k->l.name);
	if ((rc = login_device(db, &k->u, &in, &action, &k->t)) != DB_OK)
		return rc;
	if (action == LOGIN_LIMIT) {
		k->out = LINK_OUT_DEVICE_LIMIT;
		return DB_ROLLBACK;
	}
	k->out = LINK_OUT_OK;
	return DB_OK;
}

/*
 * Look at the link: read it, compare the secret's hash in constant
 * time, decide (link_answer_of), and for an approved link hand its
 * tokens out.  Sets k->out (LINK_OUT_OK: k->u and k->t hold the
 * tokens).  Returns a db_rc.
 */
static int
look_run(struct db *db, struct look *k)
{
	enum link_answer a;
	int		 rc, found, ok;

	look_release(k);
	rc = db_link_get(db, k->id, &k->l);
	if (rc != DB_OK && rc != DB_NOTFOUND)
		return rc;
	found = rc == DB_OK;
	ok = found && CRYPTO_memcmp(k->l.secret_hash, k->hash, 32) == 0;
	a = link_answer_of(found, ok, k->l.status, k->l.expires_at, now_ms());
	switch (a) {
	case LINK_ANSWER_PENDING:
		k->out = LINK_OUT_PENDING;
		return DB_OK;
	case LINK_ANSWER_DENIED:
		k->out = LINK_OUT_DENIED;
		return DB_OK;
	case LINK_ANSWER_EXPIRED:
		k->out = LINK_OUT_EXPIRED;
		return DB_OK;
	case LINK_ANSWER_APPROVED:
		break;
	default:
		k->out = LINK_OUT_NOT_FOUND;
		return DB_OK;
	}
	rc = db_tx(db, handout_tx, k);
	if (rc == DB_OK || rc == DB_ROLLBACK) {
		if (k->out == LINK_OUT_OK)
			log_json(LOG_INFO, "link handed out", json_pack(
			    "{s:s, s:s, s:s}", "link", k->l.id, "user",
			    k->u.public_id, "device", k->l.device_id));
		return DB_OK;
	}
	return rc;
}

/* 202 {link:{id, status:"pending", expires_at}}. */
static int
pending_answer(struct resp *resp, const struct look *k)
{
	return resp_json(resp, 202, json_pack("{s:{s:s, s:s, s:I}}", "link",
	    "id", k->l.id, "status", "pending",
	    "expires_at", (json_int_t)k->l.expires_at));
}

/* The answer of a look (or of its store's failure, rc). */
static int
look_answer(struct resp *resp, struct look *k, int rc)
{
	if (rc != DB_OK)
		return answer_db(resp, rc);
	switch (k->out) {
	case LINK_OUT_OK:
		return tokens_answer(resp, &k->u, &k->t);
	case LINK_OUT_PENDING:
		return pending_answer(resp, k);
	default:
		return outcome_problem(resp, k->out, 0);
	}
}

/* A token call waiting in park for its link's decision. */
struct link_wait {
	struct park_entry pe;		/* first: park hands it back */
	struct held	 held;
	struct look	 k;
	int64_t		 timeout_us;	/* mono_us: the call's timeout */
};

/* Answer w with resp (taken); leaves its waits' counts. */
static void
wait_answer(struct link_wait *w, struct resp *resp)
{
	stats_longpoll(-1);
	waits_leave(w->pe.user_id, w->k.id);
	dispatch_answer(&w->held, resp);
	w->pe.done = 1;
}

/* Look again, from the park thread, and answer unless still pending. */
static void
wait_look(struct link_wait *w, int at_deadline)
{
	struct resp	 resp;
	struct db	*db;
	int		 rc;

	db = db_acquire();
	rc = look_run(db, &w->k);
	db_release(db);
	if (rc == DB_OK && w->k.out == LINK_OUT_PENDING && !at_deadline)
		return;
	resp_init(&resp);
	look_answer(&resp, &w->k, rc);
	look_release(&w->k);
	wait_answer(w, &resp);
}

/* 202 with what w last saw, no look: it stops, or its client left. */
static void
wait_answer_pending(struct link_wait *w)
{
	struct resp	 resp;

	resp_init(&resp);
	pending_answer(&resp, &w->k);
	wait_answer(w, &resp);
}

static void
wait_free(struct link_wait *w)
{
	look_release(&w->k);
	OPENSSL_cleanse(w->k.hash, sizeof(w->k.hash));
	free(w);
}

/* park: the link's key rang (a decision, or a collision): look again. */
static void
link_wake(int64_t key, struct park_entry **v, size_t n)
{
	size_t	 i;

	(void)key;
	for (i = 0; i < n; i++)
		wait_look((struct link_wait *)v[i], 0);
}

/*
 * park: a deadline: the link's expiry (answered as it stands: 410 once
 * expired) or the call's timeout (202 while pending).  A link seen
 * pending before its timeout waits on (a clock a moment behind).
 */
static void
link_expire(struct park_entry *e)
{
	struct link_wait *w = (struct link_wait *)e;
	int64_t		 now = mono_us();

	wait_look(w, 0);
	if (w->pe.done)
		return;
	if (now >= w->timeout_us) {
		wait_answer_pending(w);
		return;
	}
	w->pe.deadline_us = now + 100000 < w->timeout_us ? now + 100000 :
	    w->timeout_us;
}

/* park: the client went away: its answer goes nowhere. */
static void
link_gone(struct park_entry *e)
{
	struct link_wait *w = (struct link_wait *)e;

	wait_answer_pending(w);
	wait_free(w);
}

/* park: the worker stops: answer now (the client calls again). */
static void
link_stop(struct park_entry *e)
{
	struct link_wait *w = (struct link_wait *)e;

	wait_answer_pending(w);
	wait_free(w);
}

static void
link_release(struct park_entry *e)
{
	wait_free((struct link_wait *)e);
}

static const struct park_ops link_wait_ops = {
	link_wake, link_expire, link_gone, link_stop, link_release, NULL
};

/*
 * Hand req, whose look k found its link pending (seen: the link's key
 * read before that look), over to park until timeout_us or the link's
 * expiry.  Returns 0 (handed over: the dispatcher sends nothing), or -1
 * (the caller waits holding its thread).
 */
static int
wait_park(struct req *req, struct resp *resp, const struct look *k,
    int64_t key, uint32_t seen, int64_t timeout_us)
{
	struct link_wait *w;
	int64_t		 expiry_us;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	memcpy(w->k.id, k->id, sizeof(w->k.id));
	memcpy(w->k.hash, k->hash, sizeof(w->k.hash));
	w->k.l = k->l;
	w->timeout_us = timeout_us;
	w->pe.ops = &link_wait_ops;
	w->pe.fd = req->fcgi->ipcFd;
	w->pe.user_id = key;
	w->pe.seen = seen;
	/* a moment past the expiry: then the look answers 410 */
	expiry_us = mono_us() + (k->l.expires_at - now_ms()) * 1000 + 5000;
	w->pe.deadline_us = expiry_us < timeout_us ? expiry_us : timeout_us;
	if (dispatch_hold(req, resp, &w->held) == -1) {
		wait_free(w);
		return -1;
	}
	if (park_add(&w->pe) == -1) {
		resp->parked = 0;
		held_free(&w->held);
		wait_free(w);
		return -1;
	}
	return 0;
}

/* A link holds at most TANDEM_MAX_WAITS_PER_DEVICE waiting calls (on this host). */
static int
wait_refused(struct resp *resp, int64_t key, const char *id)
{
	if (waits_enter(key, id) == WAITS_OK)
		return 0;
	resp_header(resp, "Retry-After", "%d", LINK_WAIT_RETRY_S);
	problem(resp, 429, "RATE_LIMITED", "this link has as many token "
	    "calls waiting as it may");
	problem_set(resp, "retry_after_s", json_integer(LINK_WAIT_RETRY_S));
	return resp->status;
}

/*
 * POST /api/v1/auth/link/{id}/token {secret, timeout?}
 * No token: the secret is the proof.  Waits until the link is decided,
 * at most timeout seconds (0..TANDEM_MAX_POLL_TIMEOUT_S, default 25).
 * 200 login's answer (access and refresh tokens, user, device): the
 *     device registered or re-activated (device.registered), once.
 * 202 {link:{id, status:"pending", expires_at}}: still pending.
 * 400 VALIDATION_FAILED (secret: missing or not a string; timeout)
 * 403 LINK_DENIED; 403 DEVICE_LIMIT_EXCEEDED (approved, but the device
 *     limit filled up since: the link stays approved)
 * 404 LINK_NOT_FOUND (unknown id or a wrong secret, alike)
 * 410 LINK_EXPIRED (expired, or the tokens were handed out already)
 * 429 RATE_LIMITED (the link has its cap of calls waiting)
 * 503 SERVICE_UNAVAILABLE
 */
int
handle_auth_link_token(struct req *req, struct resp *resp)
{
	struct look	 k;
	const char	*secret;
	int64_t		 timeout, timeout_us, key, left_ms;
	int		 rc, tdef = LINK_TIMEOUT_DEF, waiting = 0, watched;
	int		 armed = 0, fd = req->fcgi != NULL ? req->fcgi->ipcFd : -1;
	uint32_t	 seen;

	memset(&k, 0, sizeof(k));
	if (tdef > cfg.max_poll_timeout_s)
		tdef = (int)cfg.max_poll_timeout_s;
	if (body_object(req, resp) == -1 ||
	    field_str(resp, req->json, "secret", "secret", F_REQUIRED, 0,
	    SIZE_MAX, &secret) == -1 ||
	    field_int(resp, req->json, "timeout", "timeout", 0, 0,
	    cfg.max_poll_timeout_s, tdef, &timeout) == -1)
		return resp->status;
	snprintf(k.id, sizeof(k.id), "%s", req_param(req, "lid"));
	auth_token_hash(secret, k.hash);
	key = link_ring_key(k.id);
	timeout_us = mono_us() + timeout * 1000000;
	for (;;) {
		seen = doorbell_read(key);
		rc = look_run(req_db(req), &k);
		req_db_release(req);
		if (rc != DB_OK || k.out != LINK_OUT_PENDING || timeout == 0)
			break;
		if (!waiting) {
			if (wait_refused(resp, key, k.id) != 0)
				goto out;
			stats_longpoll(1);
			waiting = 1;
			req->waited = 1;
			/* wait without this thread, when the worker can */
			if (wait_park(req, resp, &k, key, seen, timeout_us) ==
			    0)
				return resp->status;
		}
		/* the thread waits: in slices, the connection watched */
		if (doorbell_stopping() || req_client_gone(req))
			break;
		left_ms = (timeout_us - mono_us() + 999) / 1000;
		if (left_ms <= 0)
			break;
		watched = fd >= 0 && doorbell_watch(fd, key) == 0;
		armed |= watched;
		if (left_ms > LINK_SLICE_MS)
			left_ms = LINK_SLICE_MS;
		doorbell_wait(key, seen, left_ms);
	}
	look_answer(resp, &k, rc);
out:
	if (armed)
		doorbell_unwatch(fd);
	if (waiting) {
		stats_longpoll(-1);
		waits_leave(key, k.id);
	}
	look_release(&k);
	OPENSSL_cleanse(k.hash, sizeof(k.hash));
	return resp->status;
}

/* ---- the sweeper --------------------------------------------------------- */

struct prune_op {
	int64_t		 now;
};

static int
prune_tx(struct db *db, void *arg)
{
	struct prune_op	*p = arg;
	int		 rc;

	if ((rc = db_links_prune(db, p->now - LINK_KEEP_MS)) != DB_OK)
		return rc;
	return db_link_misses_prune(db, p->now - LINK_MISS_WINDOW_MS);
}

/*
 * The sweeper: delete the links that expired more than LINK_KEEP_MS ago
 * and the wrong codes older than the limit's window.  Costs one indexed
 * read when there is nothing to delete.  Returns a db_rc.
 */
int
links_sweep(struct db *db, int64_t now)
{
	struct prune_op	 p = { now };
	int		 rc, due;

	if ((rc = db_links_due(db, now - LINK_KEEP_MS,
	    now - LINK_MISS_WINDOW_MS, &due)) != DB_OK || !due)
		return rc;
	return db_tx(db, prune_tx, &p);
}
