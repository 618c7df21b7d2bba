/*
 * tandem.js: the JavaScript client of tandem (CLIENT.md is its contract,
 * API.md the HTTP one).  One ES module, no dependencies, for browsers and
 * Node 20.  Served by tandem's nginx at /sdk/tandem.js.
 *
 *   const t = new Tandem({ baseUrl, device, storage, strategy });
 *   await t.login(email, password);
 *   t.start();
 *   await t.collection("notes").put("n1", { title: "hi" });
 *
 * What it keeps (IndexedDB, or memory): the session's tokens, the local
 * copy of every record, the queue of changes not yet acknowledged, the
 * sync cursor and the events cursor.  What it does by itself: push the
 * queue, pull on record.changed and on (re)connect, hold the live
 * connection (the event stream, else long polls) with back-off, refresh
 * an expired access token once, renew a primary role it holds.
 */

export const VERSION = "1.0.0";

const API_PREFIX = "/api/v1";
const POLL_TIMEOUT_S = 25;
const REQUEST_TIMEOUT_MS = 30_000;
const STREAM_IDLE_MS = 45_000;		/* three missed ": ping"s */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;
const PUSH_BATCH = 500;
const PULL_LIMIT = 1000;
const SEND_ATTEMPTS = 8;
const ENDING_CODES = new Set(["INVALID_TOKEN", "TOKEN_REUSED", "DEVICE_REVOKED"]);
const STRATEGIES = new Set(["manual", "server_wins", "client_wins", "lww", "merge"]);
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const COLLECTION_RE = /^[a-z0-9_-]{1,64}$/;

/*
 * Every failure: status (0 for a network failure), code (the problem
 * document's, or NETWORK, TIMEOUT, NOT_SIGNED_IN, ABORTED) and the problem
 * document itself (or null).
 */
export class TandemError extends Error {
	constructor(status, code, problem = null, message = undefined) {
		super(message ?? problem?.detail ?? problem?.title ?? code);
		this.name = "TandemError";
		this.status = status;
		this.code = code;
		this.problem = problem;
	}
}

/* ---- small helpers ---------------------------------------------------- */

const sleep = (ms, signal) => new Promise((resolve) => {
	if (signal?.aborted)
		return resolve();
	const timer = setTimeout(done, ms);
	function done() {
		clearTimeout(timer);
		signal?.removeEventListener("abort", done);
		resolve();
	}
	signal?.addEventListener("abort", done, { once: true });
});

function randomId(prefix = "", bytes = 12) {
	const b = new Uint8Array(bytes);
	globalThis.crypto.getRandomValues(b);
	return prefix + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/* Full jitter: a random delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt, base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS) {
	const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
	return Math.floor(Math.random() * ceiling);
}

/* Retry-After as milliseconds (seconds or an HTTP date), or 0. */
function retryAfterMs(response) {
	const v = response?.headers?.get("Retry-After");
	if (!v)
		return 0;
	if (/^\d+$/.test(v.trim()))
		return Number(v.trim()) * 1000;
	const at = Date.parse(v);
	return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

function anySignal(signals) {
	const live = signals.filter(Boolean);
	if (live.length === 1)
		return live[0];
	if (AbortSignal.any)
		return AbortSignal.any(live);
	const c = new AbortController();
	for (const s of live) {
		if (s.aborted)
			c.abort(s.reason);
		else
			s.addEventListener("abort", () => c.abort(s.reason), { once: true });
	}
	return c.signal;
}

const key = (collection, id) => `${collection}\u0000${id}`;
const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const clone = (v) => (v === undefined ? undefined : structuredClone(v));

/* "changes[3].data.x" -> 3, else -1 */
function changeIndex(problem) {
	const m = /^changes\[(\d+)\]/.exec(problem?.field ?? "");
	return m ? Number(m[1]) : -1;
}

/* ---- Server-Sent Events ------------------------------------------------ */

/*
 * Parse a text/event-stream body as the WHATWG HTML standard does: lines
 * end in CRLF, LF or CR; "field: value" with one optional space; lines
 * starting with ":" are comments; a blank line dispatches the block.
 * Calls onBlock({ event, data, id, retry, comment }) for every block that
 * carries something.  Returns a function to feed it text.
 */
export function sseParser(onBlock) {
	let buffer = "";
	let block = { event: "", data: [], id: undefined, retry: undefined, comment: undefined };
	let pendingCR = false;

	function dispatch() {
		const b = block;
		block = { event: "", data: [], id: undefined, retry: undefined, comment: undefined };
		if (b.data.length === 0 && b.id === undefined && b.retry === undefined &&
		    b.comment === undefined)
			return;
		onBlock({
			event: b.event || "message",
			data: b.data.length ? b.data.join("\n") : null,
			id: b.id,
			retry: b.retry,
			comment: b.comment,
		});
	}

	function line(l) {
		if (l === "")
			return dispatch();
		if (l.startsWith(":")) {
			block.comment = l.slice(1).replace(/^ /, "");
			return;
		}
		const i = l.indexOf(":");
		const field = i === -1 ? l : l.slice(0, i);
		let value = i === -1 ? "" : l.slice(i + 1);
		if (value.startsWith(" "))
			value = value.slice(1);
		switch (field) {
		case "event": block.event = value; break;
		case "data": block.data.push(value); break;
		case "id": if (!value.includes("\0")) block.id = value; break;
		case "retry": if (/^\d+$/.test(value)) block.retry = Number(value); break;
		default: break;	/* unknown fields are ignored */
		}
	}

	return (text) => {
		buffer += text;
		let start = 0;
		for (let i = 0; i < buffer.length; i++) {
			const c = buffer[i];
			if (pendingCR) {
				pendingCR = false;
				if (c === "\n") {
					start = i + 1;
					continue;
				}
			}
			if (c === "\n" || c === "\r") {
				line(buffer.slice(start, i));
				start = i + 1;
				pendingCR = c === "\r";
			}
		}
		buffer = buffer.slice(start);
	};
}

/* ---- storage: IndexedDB or memory --------------------------------------- */

/*
 * Both stores keep three maps: meta (key -> value), records (key ->
 * { collection, id, data, version, deleted }) and queue (key -> change).
 * The client holds everything in memory and writes through; load() gives
 * what a previous page left.
 */
class MemoryStore {
	async load() {
		return { meta: new Map(), records: new Map(), queue: new Map() };
	}
	async write(_ops) {}
	async readMeta(_k) { return undefined; }
	close() {}
}

class IndexedDBStore {
	constructor(name) {
		this.name = name;
		this.db = null;
	}

	open() {
		return new Promise((resolve, reject) => {
			const req = indexedDB.open(this.name, 1);
			req.onupgradeneeded = () => {
				for (const s of ["meta", "records", "queue"])
					if (!req.result.objectStoreNames.contains(s))
						req.result.createObjectStore(s);
			};
			req.onsuccess = () => resolve(req.result);
			req.onerror = () => reject(req.error);
			req.onblocked = () => reject(new Error("IndexedDB blocked"));
		});
	}

	async load() {
		this.db = await this.open();
		const out = { meta: new Map(), records: new Map(), queue: new Map() };
		const tx = this.db.transaction(["meta", "records", "queue"], "readonly");
		await Promise.all(["meta", "records", "queue"].map((s) => new Promise((resolve, reject) => {
			const req = tx.objectStore(s).openCursor();
			req.onsuccess = () => {
				const c = req.result;
				if (!c)
					return resolve();
				out[s].set(c.key, c.value);
				c.continue();
			};
			req.onerror = () => reject(req.error);
		})));
		return out;
	}

	/* ops: [[store, key, value | undefined (delete) ] | [store, "*clear*"]] in one transaction */
	write(ops) {
		if (!this.db || ops.length === 0)
			return Promise.resolve();
		return new Promise((resolve, reject) => {
			const stores = [...new Set(ops.map((o) => o[0]))];
			const tx = this.db.transaction(stores, "readwrite");
			for (const [s, k, v] of ops) {
				const os = tx.objectStore(s);
				if (k === "*clear*")
					os.clear();
				else if (v === undefined)
					os.delete(k);
				else
					os.put(v, k);
			}
			tx.oncomplete = () => resolve();
			tx.onerror = () => reject(tx.error);
			tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
		});
	}

	readMeta(k) {
		if (!this.db)
			return Promise.resolve(undefined);
		return new Promise((resolve, reject) => {
			const req = this.db.transaction("meta", "readonly").objectStore("meta").get(k);
			req.onsuccess = () => resolve(req.result);
			req.onerror = () => reject(req.error);
		});
	}

	close() {
		this.db?.close();
		this.db = null;
	}
}

/* ---- the client -------------------------------------------------------- */

export class Tandem {
	#origin;
	#api;
	#store;
	#storeName;
	#strategy;
	#deviceOpts;
	#collections;
	#fetch;

	#meta = new Map();
	#records = new Map();
	#queue = new Map();
	#listeners = new Map();
	#conflictsSeen = new Set();
	#openConflicts = new Map();

	#session = null;	/* { access_token, refresh_token, user, device } */
	#refreshing = null;
	#status = "offline";
	#live = false;
	#liveRun = null;
	#liveAbort = null;
	#wake = null;
	#pushTimer = null;
	#pushAttempt = 0;
	#pushWanted = false;
	#syncChain = Promise.resolve();
	#pullAgain = false;
	#pulling = null;
	#timers = new Set();
	#sessions = new Map();
	#links = new Set();
	#onOnline = null;
	#onOffline = null;
	#pushRetrying = false;
	#conflictsChecked = false;

	/*
	 * opts: baseUrl (an origin, a trailing /api/v1 accepted; default the
	 * page's origin), device { id, platform, name } (id default: a random
	 * id kept in storage), storage ("indexeddb" where it exists, else
	 * "memory"), strategy (the push strategy, default "manual"),
	 * collections (the names to pull; default all), name (the storage's
	 * name, default one per baseUrl), fetch (a fetch function).
	 */
	constructor(opts = {}) {
		let base = opts.baseUrl ?? globalThis.location?.origin;
		if (!base)
			throw new TypeError("baseUrl is required outside a browser page");
		base = String(base).replace(/\/+$/, "").replace(/\/api\/v1$/, "");
		this.#origin = base;
		this.#api = base + API_PREFIX;
		this.#strategy = opts.strategy ?? "manual";
		if (!STRATEGIES.has(this.#strategy))
			throw new TypeError(`unknown strategy ${this.#strategy}`);
		this.#deviceOpts = opts.device ?? {};
		this.#collections = opts.collections ?? null;
		this.#fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
		const kind = opts.storage ?? (globalThis.indexedDB ? "indexeddb" : "memory");
		this.#storeName = opts.name ?? `tandem:${base}`;
		if (kind === "indexeddb") {
			if (!globalThis.indexedDB)
				throw new TypeError("IndexedDB is not available here; use storage: \"memory\"");
			this.#store = new IndexedDBStore(this.#storeName);
		} else if (kind === "memory")
			this.#store = new MemoryStore();
		else
			throw new TypeError(`unknown storage ${kind}`);
		this.storage = kind;
		this.ready = this.#load();
		if (globalThis.addEventListener && "onLine" in (globalThis.navigator ?? {})) {
			this.#onOnline = () => this.#networkBack();
			this.#onOffline = () => {
				this.#setStatus("offline");
				this.#liveAbort?.abort(new TandemError(0, "NETWORK", null, "the browser is offline"));
			};
			globalThis.addEventListener("online", this.#onOnline);
			globalThis.addEventListener("offline", this.#onOffline);
		}
	}

	async #load() {
		const { meta, records, queue } = await this.#store.load();
		this.#meta = meta;
		this.#records = records;
		this.#queue = queue;
		this.#session = meta.get("session") ?? null;
		let id = this.#deviceOpts.id ?? meta.get("device_id");
		if (!id) {
			id = randomId("web-", 8);
		}
		if (meta.get("device_id") !== id)
			await this.#metaSet({ device_id: id });
		this.#deviceOpts = { ...this.#deviceOpts, id };
		if (this.#queue.size > 0)
			this.#emit("pending", this.pending);
		if (this.#session && this.#queue.size > 0)
			this.#schedulePush(0);
	}

	/* ---- what an app reads ---- */

	get baseUrl() { return this.#origin; }
	get status() { return this.#status; }
	get deviceId() { return this.#deviceOpts.id; }
	get user() { return this.#session?.user ?? null; }
	get device() { return this.#session?.device ?? null; }
	get signedIn() { return this.#session !== null; }
	/* records with a change not yet acknowledged */
	get pending() { return this.#queue.size; }
	/* the ids of collection's records with a change not yet acknowledged */
	queued(collection) {
		return [...this.#queue.values()].filter((c) => c.collection === collection).map((c) => c.id);
	}
	/* the open conflicts this client knows of */
	conflicts() { return [...this.#openConflicts.values()].map(clone); }

	/*
	 * on(type, fn) -> a function that removes it.  Types: change, conflict,
	 * event, status, auth, primary, error, pending, retry.
	 */
	on(type, fn) {
		if (!this.#listeners.has(type))
			this.#listeners.set(type, new Set());
		this.#listeners.get(type).add(fn);
		return () => this.off(type, fn);
	}

	off(type, fn) {
		this.#listeners.get(type)?.delete(fn);
	}

	#emit(type, value) {
		for (const fn of this.#listeners.get(type) ?? []) {
			try {
				fn(value);
			} catch (e) {
				console.error(`tandem: a "${type}" listener threw`, e);
			}
		}
	}

	#setStatus(s) {
		if (this.#status === s)
			return;
		this.#status = s;
		this.#emit("status", s);
	}

	/* ---- persistence ---- */

	#metaSet(obj) {
		const ops = [];
		for (const [k, v] of Object.entries(obj)) {
			if (v === undefined)
				this.#meta.delete(k);
			else
				this.#meta.set(k, v);
			ops.push(["meta", k, v]);
		}
		return this.#store.write(ops);
	}

	/* ---- HTTP ---- */

	/*
	 * One request to the API.  Returns { status, body, response }; rejects
	 * with a TandemError for a network failure or a 4xx/5xx.  An expired
	 * access token is refreshed once and the request sent again; a token
	 * that cannot be refreshed ends the session ("auth", "offline").
	 */
	async #request(method, path, { body, auth = true, signal, headers = {},
	    timeoutMs = REQUEST_TIMEOUT_MS, accept, raw = false } = {}) {
		for (let attempt = 0; ; attempt++) {
			if (auth && !this.#session)
				throw new TandemError(401, "NOT_SIGNED_IN", null, "not signed in");
			const token = this.#session?.access_token;
			const h = { ...headers };
			if (auth)
				h.Authorization = `Bearer ${token}`;
			if (body !== undefined)
				h["Content-Type"] = "application/json";
			if (accept)
				h.Accept = accept;
			const signals = [signal];
			if (timeoutMs)
				signals.push(AbortSignal.timeout(timeoutMs));
			let response;
			try {
				response = await this.#fetch(this.#api + path, {
					method,
					headers: h,
					body: body === undefined ? undefined : JSON.stringify(body),
					signal: anySignal(signals),
					cache: "no-store",
				});
			} catch (e) {
				if (signal?.aborted)
					throw new TandemError(0, "ABORTED", null, "aborted");
				if (e?.name === "TimeoutError")
					throw new TandemError(0, "TIMEOUT", null, `no answer in ${timeoutMs} ms`);
				this.#setStatus("offline");
				throw new TandemError(0, "NETWORK", null, e?.message ?? "network failure");
			}
			if (this.#status === "offline" && this.#live)
				this.#networkBack();
			if (raw && response.ok)
				return { status: response.status, body: null, response };
			let parsed = null;
			const ct = response.headers.get("Content-Type") ?? "";
			if (response.status !== 204 && /json/.test(ct)) {
				try {
					parsed = await response.json();
				} catch {
					parsed = null;
				}
			} else if (!raw) {
				await response.body?.cancel?.().catch(() => {});
			}
			if (response.ok)
				return { status: response.status, body: parsed, response };
			const code = parsed?.code ?? `HTTP_${response.status}`;
			const err = new TandemError(response.status, code, parsed);
			err.retryAfterMs = retryAfterMs(response);
			if (response.status === 401 && auth) {
				if (code === "TOKEN_EXPIRED" && attempt === 0) {
					await this.#refresh(token);
					continue;
				}
				/* a second TOKEN_EXPIRED is only thrown: no refresh loop */
				if (ENDING_CODES.has(code))
					this.#endSession(err);
			}
			throw err;
		}
	}

	/*
	 * Refresh the tokens once, however many requests found them expired
	 * at the same moment (a refresh token is spent by its first use).
	 * Another tab of this device may have refreshed already: its tokens
	 * are taken from storage instead.
	 */
	#refresh(expiredToken) {
		if (this.#session && this.#session.access_token !== expiredToken)
			return Promise.resolve();
		if (!this.#refreshing) {
			const run = async () => {
				const stored = await this.#store.readMeta("session");
				if (stored && stored.access_token !== expiredToken) {
					this.#session = stored;
					this.#meta.set("session", stored);
					return;
				}
				if (!this.#session)
					throw new TandemError(401, "NOT_SIGNED_IN");
				let r;
				try {
					r = await this.#request("POST", "/auth/refresh", {
						auth: false,
						body: { refresh_token: this.#session.refresh_token },
					});
				} catch (e) {
					if (e.status === 401 || e.code === "TOKEN_REUSED")
						this.#endSession(e);
					throw e;
				}
				await this.#adopt(r.body);
				this.#emit("refresh", { expiresIn: r.body.expires_in });
			};
			const locks = globalThis.navigator?.locks;
			const p = locks ? locks.request(`${this.#storeName}:refresh`, run) : run();
			this.#refreshing = p.finally(() => { this.#refreshing = null; });
		}
		return this.#refreshing;
	}

	async #adopt(answer) {
		const previous = this.#meta.get("user_id");
		const session = {
			access_token: answer.access_token,
			refresh_token: answer.refresh_token,
			user: answer.user,
			device: answer.device,
		};
		if (previous !== undefined && previous !== answer.user?.id)
			await this.#wipe();
		this.#session = session;
		await this.#metaSet({ session, user_id: answer.user?.id });
	}

	/* Forget another user's local copy, queue and cursors. */
	async #wipe() {
		this.#records.clear();
		this.#queue.clear();
		this.#openConflicts.clear();
		this.#conflictsSeen.clear();
		this.#meta.delete("sync_cursor");
		this.#meta.delete("event_cursor");
		await this.#store.write([["records", "*clear*"], ["queue", "*clear*"],
		    ["meta", "sync_cursor", undefined], ["meta", "event_cursor", undefined]]);
		this.#emit("pending", 0);
	}

	/* The server ended this login: no more requests until the next one. */
	#endSession(err) {
		if (!this.#session)
			return;
		this.#session = null;
		this.#metaSet({ session: undefined }).catch(() => {});
		this.#halt();
		this.#setStatus("offline");
		this.#emit("auth", { code: err.code, status: err.status, problem: err.problem, error: err });
	}

	/* Stop every timer and the live connection. */
	#halt() {
		this.#live = false;
		this.#liveAbort?.abort(new TandemError(0, "ABORTED", null, "stopped"));
		this.#wake?.abort();
		clearTimeout(this.#pushTimer);
		this.#pushTimer = null;
		for (const t of this.#timers)
			clearTimeout(t);
		this.#timers.clear();
		for (const s of this.#sessions.values())
			s._stopRenewal();
		for (const l of this.#links)
			l.abort();
	}

	#timer(fn, ms) {
		const t = setTimeout(() => {
			this.#timers.delete(t);
			fn();
		}, ms);
		this.#timers.add(t);
		return t;
	}

	/* An answer after a failure, or the browser's online event. */
	#networkBack() {
		if (this.#live && this.#status === "offline")
			this.#setStatus("connecting");
		this.#wake?.abort();
		if (this.#queue.size > 0 && this.#session)
			this.#schedulePush(0);
	}

	/* ---- account ---- */

	#deviceBody() {
		const nav = globalThis.navigator;
		const platform = String(this.#deviceOpts.platform ??
		    nav?.userAgentData?.platform ?? nav?.platform ??
		    globalThis.process?.platform ?? "web").slice(0, 64) || "web";
		const name = String(this.#deviceOpts.name ?? `tandem.js on ${platform}`).slice(0, 64);
		return { id: this.#deviceOpts.id, platform, name };
	}

	/*
	 * Create the account, then log in.  Resolves { user, device }.
	 * device: { platform, name } to use instead of the constructor's.
	 */
	async register(email, password, device) {
		await this.ready;
		await this.#request("POST", "/auth/register", { auth: false, body: { email, password } });
		return this.login(email, password, device);
	}

	/* Log in as this device.  Resolves { user, device }. */
	async login(email, password, device) {
		await this.ready;
		if (device)
			this.#deviceOpts = { ...this.#deviceOpts, ...device, id: this.#deviceOpts.id };
		const r = await this.#request("POST", "/auth/login", {
			auth: false,
			body: { email, password, device: this.#deviceBody() },
		});
		await this.#adopt(r.body);
		this.#afterSignIn();
		return { user: r.body.user, device: r.body.device };
	}

	#afterSignIn() {
		if (this.#queue.size > 0)
			this.#schedulePush(0);
		if (this.#live && !this.#liveRun)
			this.#liveRun = this.#liveLoop().finally(() => { this.#liveRun = null; });
	}

	/* Log out (the server revokes this device's tokens); the local copy stays. */
	async logout() {
		await this.ready;
		try {
			if (this.#session)
				await this.#request("POST", "/auth/logout", { body: {} });
		} finally {
			this.#session = null;
			await this.#metaSet({ session: undefined });
			this.#halt();
			this.#setStatus("offline");
		}
	}

	/*
	 * Link this (new) device without its password: resolves { id, code,
	 * expiresAt, approved, cancel }.  Show code; approved resolves with
	 * { user, device } once a signed-in device approved it, this client
	 * then signed in, and rejects with LINK_DENIED, LINK_EXPIRED or
	 * LINK_NOT_FOUND.
	 */
	async link() {
		await this.ready;
		const r = await this.#request("POST", "/auth/link", {
			auth: false,
			body: { device: this.#deviceBody() },
		});
		const l = r.body.link;
		const abort = new AbortController();
		this.#links.add(abort);
		const approved = (async () => {
			let attempt = 0;
			try {
				for (;;) {
					let a;
					try {
						a = await this.#request("POST", `/auth/link/${encodeURIComponent(l.id)}/token`, {
							auth: false,
							body: { secret: l.secret, timeout: POLL_TIMEOUT_S },
							signal: abort.signal,
							timeoutMs: (POLL_TIMEOUT_S + 15) * 1000,
						});
					} catch (e) {
						if (e.code === "ABORTED")
							throw e;
						if (e.status === 0 || e.status >= 500 || e.status === 429) {
							await sleep(Math.max(backoffDelay(attempt++), e.retryAfterMs ?? 0), abort.signal);
							continue;
						}
						throw e;
					}
					attempt = 0;
					if (a.status === 200) {
						await this.#adopt(a.body);
						this.#afterSignIn();
						return { user: a.body.user, device: a.body.device };
					}
				}
			} finally {
				this.#links.delete(abort);
			}
		})();
		approved.catch(() => {});
		return {
			id: l.id,
			code: l.code,
			expiresAt: l.expires_at,
			approved,
			cancel: () => abort.abort(),
		};
	}

	/* On a signed-in device: approve the code another device shows.  Resolves the link. */
	async approveLink(code) {
		await this.ready;
		const r = await this.#request("POST", "/links/approve", { body: { code } });
		return r.body.link;
	}

	/* ... or deny it. */
	async denyLink(code) {
		await this.ready;
		const r = await this.#request("POST", "/links/deny", { body: { code } });
		return r.body.link;
	}

	/* GET /devices: [{ id, platform, name, online, current, … }] */
	async devices() {
		await this.ready;
		return (await this.#request("GET", "/devices")).body.devices;
	}

	/* DELETE /devices/{id}: revoke another device. */
	async revokeDevice(id) {
		await this.ready;
		await this.#request("DELETE", `/devices/${encodeURIComponent(id)}`);
	}

	/* Any other call: resolves the answer's JSON (null for 204). */
	async request(method, path, body) {
		await this.ready;
		return (await this.#request(method, path.replace(/^\/api\/v1/, ""), { body })).body;
	}

	/* ---- records ---- */

	collection(name) {
		if (!COLLECTION_RE.test(name))
			throw new TypeError("collection names are 1..64 of [a-z0-9_-]");
		return new Collection(this, name);
	}

	_get(collection, id) {
		const r = this.#records.get(key(collection, id));
		return r && !r.deleted ? clone(r.data) : undefined;
	}

	_all(collection) {
		const out = [];
		for (const r of this.#records.values())
			if (r.collection === collection && !r.deleted)
				out.push({ id: r.id, data: clone(r.data), version: r.version });
		return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
	}

	/* A local write: the local copy at once, the queue, then a push. */
	async _write(collection, id, data, deleted) {
		await this.ready;
		if (!ID_RE.test(id))
			throw new TypeError("record ids are 1..128 of [A-Za-z0-9._:-]");
		if (!deleted && !isPlainObject(data))
			throw new TypeError("a record is a JSON object");
		const k = key(collection, id);
		const local = this.#records.get(k);
		const queued = this.#queue.get(k);
		const value = deleted ? null : JSON.parse(JSON.stringify(data));
		const record = { collection, id, data: value, version: local?.version ?? 0, deleted };
		const change = {
			collection, id,
			base_version: queued ? queued.base_version : (local?.version ?? 0),
			data: value,
			deleted,
			modified_at: Date.now(),
			rev: randomId("", 6),	/* tells a push's change from a later put */
		};
		this.#records.set(k, record);
		this.#queue.set(k, change);
		await this.#store.write([["records", k, record], ["queue", k, change]]);
		this.#emit("pending", this.pending);
		this.#schedulePush(0);
	}

	/* ---- push and pull ---- */

	/* Run fn after every push and pull before it: they never overlap. */
	#serial(fn) {
		const p = this.#syncChain.then(fn, fn);
		this.#syncChain = p.catch(() => {});
		return p;
	}

	#schedulePush(ms) {
		if (!this.#session)
			return;
		if (this.#pushTimer !== null && ms > 0)
			return;
		clearTimeout(this.#pushTimer);
		this.#pushRetrying = ms > 0;
		this.#pushTimer = setTimeout(() => {
			this.#pushTimer = null;
			this.#pushRetrying = false;
			this.#push().catch(() => {});
		}, ms);
	}

	/* Push the queue (in batches) until it is empty or a push fails. */
	#push() {
		if (this.#pushWanted)
			return this.#syncChain;
		this.#pushWanted = true;
		return this.#serial(async () => {
			this.#pushWanted = false;
			while (this.#queue.size > 0 && this.#session) {
				try {
					await this.#pushBatch();
					this.#pushAttempt = 0;
				} catch (e) {
					if (!this.#session || e.code === "NOT_SIGNED_IN")
						return;
					if (e.status === 0 || e.status >= 500 || e.status === 429) {
						const delay = Math.max(backoffDelay(this.#pushAttempt++), e.retryAfterMs ?? 0);
						this.#emit("retry", { what: "push", attempt: this.#pushAttempt, delayMs: delay, error: e });
						this.#schedulePush(delay);
						throw e;
					}
					this.#emit("error", { what: "push", error: e });
					throw e;
				}
			}
		});
	}

	async #pushBatch() {
		const batch = [...this.#queue.values()].slice(0, PUSH_BATCH);
		const changes = batch.map((c) => (c.deleted
			? { collection: c.collection, id: c.id, base_version: c.base_version, deleted: true, modified_at: c.modified_at }
			: { collection: c.collection, id: c.id, base_version: c.base_version, data: c.data, modified_at: c.modified_at }));
		let r;
		try {
			r = await this.#request("POST", "/sync/push", { body: { changes, strategy: this.#strategy } });
		} catch (e) {
			const i = changeIndex(e.problem);
			if (e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 429 && i >= 0 && i < batch.length) {
				/* the server refuses this change on its own: drop it, go on */
				const c = batch[i];
				const k = key(c.collection, c.id);
				if (this.#queue.get(k)?.rev === c.rev) {
					this.#queue.delete(k);
					await this.#store.write([["queue", k, undefined]]);
					this.#emit("pending", this.pending);
				}
				this.#emit("error", { what: "push", change: { ...c }, error: e });
				return;
			}
			throw e;
		}
		const ops = [];
		const notes = [];
		const conflicts = [];
		r.body.results.forEach((res, i) => {
			const c = batch[i];
			const k = key(c.collection, c.id);
			const stillSame = this.#queue.get(k)?.rev === c.rev;
			if (stillSame) {
				this.#queue.delete(k);
				ops.push(["queue", k, undefined]);
			} else if (["applied", "unchanged", "merged"].includes(res.status)) {
				/* put again meanwhile: the next push builds on this version */
				const q = this.#queue.get(k);
				if (q) {
					q.base_version = res.version;
					ops.push(["queue", k, q]);
				}
			}
			const local = this.#records.get(k);
			if (!local)
				return;
			if (!stillSame) {
				if (res.status !== "conflict" && res.status !== "rejected") {
					local.version = Math.max(local.version, res.version);
					ops.push(["records", k, local]);
				}
				return;
			}
			const server = res.server;
			if (server && (res.status !== "applied" || res.redacted)) {
				/* not written as sent: the local copy takes the server's */
				const next = {
					collection: c.collection, id: c.id,
					data: server.deleted ? null : (server.data ?? null),
					version: server.version ?? res.version,
					deleted: !!server.deleted,
				};
				this.#records.set(k, next);
				ops.push(["records", k, next]);
				notes.push({
					collection: c.collection, id: c.id, version: next.version,
					data: next.data, deleted: next.deleted,
					modified_at: server.modified_at, device_id: server.device_id,
					checksum: server.checksum, status: res.status,
				});
			} else {
				local.version = res.version;
				ops.push(["records", k, local]);
			}
			if (res.status === "conflict" && res.conflict_id != null)
				conflicts.push(res.conflict_id);
		});
		await this.#store.write(ops);
		this.#emit("pending", this.pending);
		for (const n of notes)
			this.#emit("change", n);
		for (const id of conflicts)
			await this.#learnConflict(id).catch(() => {});
	}

	/* GET the conflict and fire "conflict" once per id while it is open. */
	async #learnConflict(id, known) {
		if (this.#conflictsSeen.has(id))
			return;
		const c = known ?? (await this.#request("GET", `/conflicts/${id}`)).body.conflict;
		if (c.status !== "open" || this.#conflictsSeen.has(id))
			return;
		this.#conflictsSeen.add(id);
		this.#openConflicts.set(id, c);
		this.#emit("conflict", clone(c));
	}

	#pull() {
		if (this.#pulling) {
			this.#pullAgain = true;
			return this.#pulling;
		}
		this.#pulling = this.#serial(async () => {
			do {
				this.#pullAgain = false;
				await this.#pullAll();
			} while (this.#pullAgain && this.#session);
		}).finally(() => { this.#pulling = null; });
		return this.#pulling;
	}

	/* Pull from the cursor to the newest; on 410 from 0, replacing the copy. */
	async #pullAll() {
		let since = this.#meta.get("sync_cursor") ?? 0;
		let replacing = null;
		for (;;) {
			const q = new URLSearchParams({ since: String(since), limit: String(PULL_LIMIT) });
			if (this.#collections)
				q.set("collections", this.#collections.join(","));
			let r;
			try {
				r = await this.#request("GET", `/sync/pull?${q}`);
			} catch (e) {
				if (e.status === 410 && e.code === "CURSOR_EXPIRED" && since !== 0) {
					since = 0;
					replacing = new Set();
					continue;
				}
				throw e;
			}
			const ops = [];
			const notes = [];
			for (const ch of r.body.changes) {
				const k = key(ch.collection, ch.id);
				replacing?.add(k);
				const local = this.#records.get(k);
				if (this.#queue.has(k))
					continue;	/* our edit stands until its push answers */
				if (local && local.version >= ch.version && !replacing)
					continue;	/* already have it: our own push */
				const next = {
					collection: ch.collection, id: ch.id,
					data: ch.deleted ? null : ch.data,
					version: ch.version, deleted: !!ch.deleted,
				};
				const same = local && local.version === next.version && local.deleted === next.deleted;
				this.#records.set(k, next);
				ops.push(["records", k, next]);
				if (!same && !(ch.deleted && (!local || local.deleted)))
					notes.push(ch);
			}
			since = r.body.cursor;
			if (!r.body.more && replacing) {
				for (const [k, rec] of this.#records) {
					if (replacing.has(k) || this.#queue.has(k))
						continue;
					this.#records.delete(k);
					ops.push(["records", k, undefined]);
					if (!rec.deleted)
						notes.push({ collection: rec.collection, id: rec.id, version: rec.version, data: null, deleted: true, purged: true });
				}
			}
			this.#meta.set("sync_cursor", since);
			ops.push(["meta", "sync_cursor", since]);
			await this.#store.write(ops);
			for (const n of notes)
				this.#emit("change", n);
			if (!r.body.more)
				return;
		}
	}

	/* Push the queue, then pull to the cursor. */
	async sync() {
		await this.ready;
		if (!this.#session)
			throw new TandemError(401, "NOT_SIGNED_IN", null, "not signed in");
		clearTimeout(this.#pushTimer);
		this.#pushTimer = null;
		if (this.#queue.size > 0)
			await this.#push();
		await this.#pull();
	}

	/* Settle a stored conflict; the local copy takes the returned record. */
	async resolve(conflictId, resolution, data) {
		await this.ready;
		const body = { resolution };
		if (data !== undefined)
			body.data = data;
		const r = await this.#request("POST", `/conflicts/${encodeURIComponent(conflictId)}/resolve`, { body });
		const rec = r.body.record;
		const k = key(rec.collection, rec.id);
		const next = { collection: rec.collection, id: rec.id, data: rec.deleted ? null : rec.data, version: rec.version, deleted: !!rec.deleted };
		const local = this.#records.get(k);
		if (!this.#queue.has(k) && (!local || local.version <= next.version)) {
			this.#records.set(k, next);
			await this.#store.write([["records", k, next]]);
		}
		this.#openConflicts.delete(Number(conflictId));
		this.#openConflicts.delete(conflictId);
		return { conflict: r.body.conflict, record: rec };
	}

	/* An application event to the user's devices. */
	async publish(type, data, { sessionId } = {}) {
		await this.ready;
		const body = { type, data };
		if (sessionId !== undefined)
			body.session_id = sessionId;
		return (await this.#request("POST", "/events", { body })).body.event;
	}

	/* ---- the live connection ---- */

	/* Live: the event stream, else long polls; pulls on record.changed. */
	start() {
		if (this.#live)
			return;
		this.#live = true;
		this.#setStatus("connecting");
		this.ready.then(() => {
			if (this.#live && this.#session && !this.#liveRun)
				this.#liveRun = this.#liveLoop().finally(() => { this.#liveRun = null; });
		});
	}

	/* End the live connection, renewals and retry timers; "offline". */
	stop() {
		this.#live = false;
		if (this.#pushRetrying) {
			clearTimeout(this.#pushTimer);
			this.#pushTimer = null;
			this.#pushRetrying = false;
		}
		this.#liveAbort?.abort(new TandemError(0, "ABORTED", null, "stopped"));
		this.#wake?.abort();
		for (const t of this.#timers)
			clearTimeout(t);
		this.#timers.clear();
		for (const s of this.#sessions.values())
			s._stopRenewal();
		this.#setStatus("offline");
	}

	/* Close the storage and forget the listeners (a page going away, tests). */
	close() {
		this.stop();
		clearTimeout(this.#pushTimer);
		if (this.#onOnline) {
			globalThis.removeEventListener("online", this.#onOnline);
			globalThis.removeEventListener("offline", this.#onOffline);
		}
		this.#listeners.clear();
		this.#store.close();
	}

	async #liveLoop() {
		let attempt = 0;
		let floorMs = 0;	/* the stream's retry: */
		while (this.#live && this.#session) {
			this.#liveAbort = new AbortController();
			const signal = this.#liveAbort.signal;
			let failure = null;
			try {
				if (this.#status !== "online")
					this.#setStatus("connecting");
				await this.#connect(signal);
				this.#setStatus("online");
				attempt = 0;
				const ended = await this.#listen(signal, (ms) => { floorMs = ms; });
				if (ended === "closed" && this.#live) {
					/* the server ended the stream: reconnect after retry: */
					await this.#pause(floorMs, "stream ended");
				}
			} catch (e) {
				failure = e;
			}
			if (!failure)
				continue;
			if (!this.#live || !this.#session)
				break;
			if (failure.status === 410 && failure.code === "CURSOR_EXPIRED") {
				await this.#metaSet({ event_cursor: undefined });
				continue;
			}
			if (failure.status >= 400 && failure.status < 500 && failure.status !== 429 &&
			    failure.status !== 408) {
				this.#emit("error", { what: "live", error: failure });
			}
			if (failure.status === 0 || failure.status >= 500)
				this.#setStatus("offline");
			const delay = Math.max(backoffDelay(attempt), failure.retryAfterMs ?? 0, floorMs);
			attempt++;
			this.#emit("retry", { what: "live", attempt, delayMs: delay, floorMs: Math.max(failure.retryAfterMs ?? 0, floorMs), error: failure });
			await this.#pause(delay);
		}
		this.#liveAbort = null;
	}

	/* Sleep unless the network comes back (online event, an answer) or stop(). */
	async #pause(ms) {
		this.#wake = new AbortController();
		await sleep(ms, this.#wake.signal);
		this.#wake = null;
	}

	/* (Re)connect: learn the events cursor if there is none, pull, push. */
	async #connect(signal) {
		if (this.#meta.get("event_cursor") === undefined) {
			const r = await this.#request("GET", "/events", { signal });
			await this.#metaSet({ event_cursor: r.body.cursor });
		}
		if (!this.#conflictsChecked) {
			this.#conflictsChecked = true;
			this.#checkOpenConflicts().catch(() => { this.#conflictsChecked = false; });
		}
		await this.#pull();
		if (this.#queue.size > 0)
			this.#schedulePush(0);
	}

	async #checkOpenConflicts() {
		const r = await this.#request("GET", "/conflicts?status=open&limit=100");
		for (const c of r.body.conflicts)
			await this.#learnConflict(c.id, c);
	}

	/*
	 * Listen from the cursor: the event stream when the server answers
	 * text/event-stream, long polls otherwise.  Returns "closed" when the
	 * server ended the stream; throws on a failure.
	 */
	async #listen(signal, setRetry) {
		let after = this.#meta.get("event_cursor");
		/* the headers must come within a poll's time; the body may last */
		const headersDue = new AbortController();
		const due = setTimeout(() => headersDue.abort(), (POLL_TIMEOUT_S + 15) * 1000);
		let first;
		try {
			first = await this.#request("GET", `/events?after=${after}&exclude_self=0`, {
				signal: anySignal([signal, headersDue.signal]),
				accept: "text/event-stream", raw: true, timeoutMs: 0,
			});
		} catch (e) {
			if (headersDue.signal.aborted && !signal.aborted)
				throw new TandemError(0, "TIMEOUT", null, "no answer to the event stream");
			throw e;
		} finally {
			clearTimeout(due);
		}
		const ct = first.response.headers.get("Content-Type") ?? "";
		if (ct.startsWith("text/event-stream"))
			return this.#readStream(first.response, signal, setRetry);
		/* no stream here: this was a long poll's answer; go on polling */
		let answer = await first.response.json();
		for (;;) {
			await this.#takeEvents(answer.events);
			await this.#metaSet({ event_cursor: Math.max(answer.cursor, this.#meta.get("event_cursor")) });
			if (!this.#live || !this.#session)
				return "stopped";
			after = this.#meta.get("event_cursor");
			const r = await this.#request("GET", `/events?after=${after}&timeout=${POLL_TIMEOUT_S}&exclude_self=0`, {
				signal, timeoutMs: (POLL_TIMEOUT_S + 15) * 1000,
			});
			answer = r.body;
		}
	}

	async #readStream(response, signal, setRetry) {
		const reader = response.body.getReader();
		const decoder = new TextDecoder();
		let failure = null;
		const queue = [];
		const feed = sseParser((b) => queue.push(b));
		let idle;
		const armIdle = () => {
			clearTimeout(idle);
			idle = setTimeout(() => reader.cancel(new TandemError(0, "TIMEOUT", null, "the stream went quiet")).catch(() => {}), STREAM_IDLE_MS);
		};
		armIdle();
		try {
			for (;;) {
				let chunk;
				try {
					chunk = await reader.read();
				} catch (e) {
					if (signal.aborted)
						throw new TandemError(0, "ABORTED");
					this.#setStatus("offline");
					throw new TandemError(0, "NETWORK", null, e?.message ?? "the stream broke");
				}
				if (chunk.done)
					break;
				armIdle();
				feed(decoder.decode(chunk.value, { stream: true }));
				while (queue.length > 0) {
					const b = queue.shift();
					if (b.retry !== undefined)
						setRetry(b.retry);
					if (b.event === "error" && b.data !== null) {
						let problem = null;
						try { problem = JSON.parse(b.data); } catch { /* not JSON */ }
						const err = new TandemError(problem?.status ?? 0, problem?.code ?? "STREAM_ERROR", problem);
						if (ENDING_CODES.has(err.code))
							this.#endSession(err);
						failure = err;
						break;
					}
					if (b.data === null)
						continue;
					let e;
					try { e = JSON.parse(b.data); } catch { continue; }
					await this.#takeEvents([e]);
					const seq = e.seq ?? Number(b.id);
					if (Number.isFinite(seq) && seq > (this.#meta.get("event_cursor") ?? 0))
						await this.#metaSet({ event_cursor: seq });
				}
				if (failure)
					break;
			}
		} finally {
			clearTimeout(idle);
			reader.cancel().catch(() => {});
		}
		if (failure)
			throw failure;
		return "closed";
	}

	/* Handle events in order, each once (a seq at or below the cursor is old). */
	async #takeEvents(events) {
		let pull = false;
		const me = this.#deviceOpts.id;
		for (const e of events) {
			const cursor = this.#meta.get("event_cursor") ?? 0;
			if (e.seq <= cursor)
				continue;
			this.#meta.set("event_cursor", e.seq);
			this.#emit("event", clone(e));
			switch (e.type) {
			case "record.changed":
				if (e.device_id !== me)
					pull = true;
				break;
			case "conflict.created":
				this.#learnConflict(e.data?.conflict_id).catch(() => {});
				break;
			case "conflict.resolved":
				this.#openConflicts.delete(e.data?.conflict_id);
				pull = true;
				break;
			case "primary.changed": {
				const sid = e.data?.session_id;
				const p = {
					sessionId: sid,
					deviceId: e.data?.device_id ?? null,
					epoch: e.data?.epoch ?? null,
					isMe: e.data?.device_id === me,
				};
				this.#sessions.get(sid)?._primaryChanged(p);
				this.#emit("primary", p);
				break;
			}
			default:
				break;
			}
		}
		if (pull)
			this.#pull().catch(() => {});
	}

	/* ---- sessions ---- */

	session(id) {
		if (!ID_RE.test(id))
			throw new TypeError("session ids are 1..128 of [A-Za-z0-9._:-]");
		if (!this.#sessions.has(id))
			this.#sessions.set(id, new Session(this, id, {
				request: (m, p, o) => this.ready.then(() => this.#request(m, p, o)),
				timer: (fn, ms) => this.#timer(fn, ms),
				clearTimer: (t) => { clearTimeout(t); this.#timers.delete(t); },
				emit: (type, v) => this.#emit(type, v),
				deviceId: () => this.#deviceOpts.id,
				alive: () => this.#session !== null,
			}));
		return this.#sessions.get(id);
	}
}

/* A named collection of records: the local copy and the queue. */
class Collection {
	#t;
	constructor(t, name) {
		this.#t = t;
		this.name = name;
	}
	/* local at once, queued, pushed when online */
	put(id, data) { return this.#t._write(this.name, id, data, false); }
	delete(id) { return this.#t._write(this.name, id, null, true); }
	/* the local copy's data, or undefined */
	get(id) { return this.#t._get(this.name, id); }
	/* [{ id, data, version }] */
	all() { return this.#t._all(this.name); }
}

/* A chat session: messages with retries, the primary role with renewal. */
class Session {
	#t;
	#io;
	#renewTimer = null;
	#renewing = false;
	#primary = null;

	constructor(t, id, io) {
		this.#t = t;
		this.#io = io;
		this.id = id;
	}

	#path(rest = "") {
		return `/sessions/${encodeURIComponent(this.id)}${rest}`;
	}

	/* POST /sessions (idempotent): resolves the session. */
	async open({ title } = {}) {
		const body = { id: this.id };
		if (title !== undefined)
			body.title = title;
		return (await this.#io.request("POST", "/sessions", { body })).body.session;
	}

	async get() {
		return (await this.#io.request("GET", this.#path())).body.session;
	}

	async kill(reason) {
		this.#stopRenewal();
		return (await this.#io.request("POST", this.#path("/kill"), { body: reason ? { reason } : {} })).body.session;
	}

	/*
	 * Send a message.  Its client_msg_id is made once and kept for every
	 * retry (network errors, 5xx, 429), so the server stores it once.
	 * Resolves the message (duplicate: "retry" when an earlier try landed).
	 */
	async send(body, { auto = false, clientMsgId = randomId("m-", 12), signal } = {}) {
		const payload = { client_msg_id: clientMsgId, body };
		if (auto)
			payload.auto = true;
		for (let attempt = 0; ; attempt++) {
			try {
				const r = await this.#io.request("POST", this.#path("/messages"), { body: payload, signal });
				const m = r.body.message;
				if (r.body.duplicate)
					m.duplicate = r.body.duplicate;
				return m;
			} catch (e) {
				const again = e.status === 0 && e.code !== "ABORTED" && e.code !== "NOT_SIGNED_IN" ||
				    e.status >= 500 || e.status === 429;
				if (!again || attempt + 1 >= SEND_ATTEMPTS)
					throw e;
				const delay = Math.max(backoffDelay(attempt), e.retryAfterMs ?? 0);
				this.#io.emit("retry", { what: "send", attempt: attempt + 1, delayMs: delay, clientMsgId, error: e });
				await sleep(delay, signal);
			}
		}
	}

	/* GET messages: { messages, next_after, more } */
	async messages({ after = 0, limit } = {}) {
		const q = new URLSearchParams({ after: String(after) });
		if (limit !== undefined)
			q.set("limit", String(limit));
		return (await this.#io.request("GET", this.#path(`/messages?${q}`))).body;
	}

	#asPrimary(p) {
		if (!p)
			return null;
		return {
			sessionId: this.id,
			deviceId: p.device_id,
			epoch: p.epoch,
			isMe: p.device_id === this.#io.deviceId(),
			leaseExpiresAt: p.lease_expires_at,
		};
	}

	/*
	 * Claim the primary role.  Resolves { sessionId, deviceId, epoch,
	 * isMe, leaseExpiresAt }; rejects PRIMARY_HELD when another device
	 * holds it.  renew: renew at about a third of the lease until
	 * released, lost, or the client stopped.
	 */
	async claimPrimary({ renew = true } = {}) {
		const r = await this.#io.request("POST", this.#path("/primary"), { body: { action: "claim" } });
		this.#primary = this.#asPrimary(r.body.primary);
		if (renew && this.#primary?.isMe) {
			this.#renewing = true;
			this.#scheduleRenewal();
		}
		return { ...this.#primary };
	}

	async primary() {
		const r = await this.#io.request("GET", this.#path("/primary"));
		return this.#asPrimary(r.body.primary);
	}

	async releasePrimary() {
		this.#stopRenewal();
		const r = await this.#io.request("POST", this.#path("/primary"), { body: { action: "release" } });
		this.#primary = null;
		return this.#asPrimary(r.body.primary);
	}

	#scheduleRenewal(ms) {
		clearTimeout(this.#renewTimer);
		const lease = Math.max(300, (this.#primary?.leaseExpiresAt ?? Date.now()) - Date.now());
		const wait = ms ?? Math.max(100, Math.floor(lease / 3));
		this.#renewTimer = this.#io.timer(() => this.#renew(), wait);
	}

	async #renew() {
		if (!this.#renewing || !this.#io.alive())
			return;
		try {
			const r = await this.#io.request("POST", this.#path("/primary"), { body: { action: "renew" } });
			this.#primary = this.#asPrimary(r.body.primary);
			if (this.#renewing)
				this.#scheduleRenewal();
		} catch (e) {
			if (!this.#renewing)
				return;
			if (e.status === 0 || e.status >= 500 || e.status === 429) {
				/* try again well before the lease runs out */
				const left = (this.#primary?.leaseExpiresAt ?? 0) - Date.now();
				this.#scheduleRenewal(Math.max(200, Math.min(left / 4, 5000, Math.max(e.retryAfterMs ?? 0, 200))));
				return;
			}
			/* NOT_HOLDER, SESSION_KILLED, …: the role is gone */
			this.#stopRenewal();
			this.#io.emit("error", { what: "renew", sessionId: this.id, error: e });
		}
	}

	#stopRenewal() {
		this.#renewing = false;
		if (this.#renewTimer !== null)
			this.#io.clearTimer(this.#renewTimer);
		this.#renewTimer = null;
	}

	_stopRenewal() { this.#stopRenewal(); }

	_primaryChanged(p) {
		if (!p.isMe)
			this.#stopRenewal();
	}
}
