// The browser tests: clients/js/tandem.js and public/demo/ in headless
// Chromium against the stack that tests/browser/run.sh started (BASE,
// STACK_DIR, STACK_PID, ORIGIN_PORT, OTHER_PORT in the environment).
//
//   node run.mjs GROUP [NAME...]
//
// Prints "ok NAME", "FAIL NAME: why" or "skip NAME: why" per test, and
// "  NAME: ..." notes with what it measured.  run.sh counts the lines.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, renameSync, writeFileSync, mkdirSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const BASE = process.env.BASE;
const API = `${BASE}/api/v1`;
const TOP = process.env.TOP;
const [group = "main", ...only] = process.argv.slice(2);
const PASSWORD = "browser test passphrase";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const email = (what) => `${what}-${process.pid}-${++seq}@example.com`;

class Skip extends Error {}

function note(name, text) {
	console.log(`  ${name}: ${text}`);
}

function assert(cond, why) {
	if (!cond)
		throw new Error(why);
}

/* JSON with object members sorted: the server answers canonical JSON. */
function canonical(v) {
	return JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x)
		? Object.fromEntries(Object.keys(x).sort().map((n) => [n, x[n]])) : x));
}

function eq(got, want, what) {
	const g = canonical(got), w = canonical(want);
	assert(g === w, `${what}: got ${g}, want ${w}`);
}

/* ---- the API from the test itself (a device that is not a browser) ---- */

async function api(method, path, { token, body } = {}) {
	const headers = {};
	if (token)
		headers.Authorization = `Bearer ${token}`;
	if (body !== undefined)
		headers["Content-Type"] = "application/json";
	const r = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await r.text();
	return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function account(what) {
	const e = email(what);
	const r = await api("POST", "/auth/register", { body: { email: e, password: PASSWORD } });
	assert(r.status === 201, `register ${e}: ${r.status}`);
	return e;
}

async function apiLogin(e, deviceId) {
	const r = await api("POST", "/auth/login", {
		body: { email: e, password: PASSWORD, device: { id: deviceId, platform: "curl", name: deviceId } },
	});
	assert(r.status === 200, `login ${deviceId}: ${r.status}`);
	return r.body.access_token;
}

/* A request through curl (the reconnect test's writer). */
function curl(method, path, token, body) {
	const args = ["-sk", "-X", method, "-H", `Authorization: Bearer ${token}`, "-w", "\n%{http_code}"];
	if (body !== undefined)
		args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(body));
	const out = execFileSync("curl", [...args, API + path], { encoding: "utf8" });
	const i = out.lastIndexOf("\n");
	return { status: Number(out.slice(i + 1)), body: out.slice(0, i) ? JSON.parse(out.slice(0, i)) : null };
}

/* ---- the browser ---- */

const profile = mkdtempSync(join(tmpdir(), "tandem-chromium-"));
const browser = await puppeteer.launch({
	executablePath: "/usr/bin/chromium",
	headless: true,
	userDataDir: profile,
	acceptInsecureCerts: true,
	args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--ignore-certificate-errors", "--disable-dev-shm-usage"],
});

const contexts = [];

/* A device: a browser context of its own (its own IndexedDB), one page. */
async function device(url = `${BASE}/`) {
	const context = await browser.createBrowserContext();
	contexts.push(context);
	const page = await context.newPage();
	page.on("pageerror", (e) => console.log(`  (page error) ${e.message}`));
	const requests = [];
	page.on("request", (r) => requests.push({ at: Date.now(), method: r.method(), url: r.url() }));
	page.on("response", (r) => {
		const q = requests.findLast((x) => x.url === r.url() && x.status === undefined);
		if (q) {
			q.status = r.status();
			q.type = r.headers()["content-type"];
		}
	});
	await page.goto(url, { waitUntil: "load" });
	return { context, page, requests };
}

/*
 * Make window.t in the page: a Tandem with every event logged in
 * window.log as { type, at, v }.
 */
async function client(page, tandemOpts = {}, sdk = "/sdk/tandem.js") {
	await page.evaluate(async (opts, sdkUrl) => {
		const { Tandem } = await import(sdkUrl);
		window.log = [];
		const t = new Tandem(opts);
		window.t = t;
		const plain = (v) => JSON.parse(JSON.stringify(v ?? null, (k, x) =>
			(x instanceof Error ? { name: x.name, code: x.code, status: x.status, message: x.message } : x)));
		for (const type of ["change", "conflict", "event", "status", "auth", "error", "pending", "retry", "refresh", "primary"])
			t.on(type, (v) => window.log.push({ type, at: Date.now(), v: plain(v) }));
		await t.ready;
	}, tandemOpts, sdk);
}

const logOf = (page, type) => page.evaluate((ty) => window.log.filter((l) => l.type === ty), type);

async function waitFor(page, fn, arg, timeout = 10_000, what = "the condition") {
	try {
		await page.waitForFunction(fn, { timeout, polling: 50 }, arg);
	} catch (e) {
		throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
	}
}

async function setOffline(page, offline) {
	if (!page._cdp) {
		page._cdp = await page.createCDPSession();
		await page._cdp.send("Network.enable");
	}
	await page._cdp.send("Network.emulateNetworkConditions", {
		offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
	});
}

/* A device signed in as e (window.t in its page); live and online with start. */
async function signedIn(e, name, start = false) {
	const D = await device();
	await client(D.page, { device: { platform: "test", name } });
	await D.page.evaluate((e, pw) => t.login(e, pw), e, PASSWORD);
	if (start) {
		await D.page.evaluate(() => t.start());
		await waitFor(D.page, () => t.status === "online", null, 5000, `${name} online`);
	}
	return D;
}

/* ---- the stack ---- */

function stackProcesses() {
	const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid=,comm="], { encoding: "utf8" })
		.trim().split("\n").map((l) => l.trim().split(/\s+/)).map(([pid, ppid, comm]) => ({ pid: +pid, ppid: +ppid, comm }));
	const mine = new Set([Number(process.env.STACK_PID)]);
	let grew = true;
	while (grew) {
		grew = false;
		for (const r of rows)
			if (!mine.has(r.pid) && mine.has(r.ppid)) {
				mine.add(r.pid);
				grew = true;
			}
	}
	return rows.filter((r) => mine.has(r.pid));
}

/*
 * tandemd "down": nginx finds no socket (502 at once) and the workers
 * holding live requests are killed (their master starts new ones).
 */
function tandemdDown() {
	const sock = join(process.env.STACK_DIR, "data/run/tandemd.sock");
	renameSync(sock, `${sock}.away`);
	const procs = stackProcesses();
	const master = procs.find((p) => p.comm === "tandemd" && procs.find((q) => q.pid === p.ppid)?.comm !== "tandemd");
	const children = procs.filter((p) => p.ppid === master.pid);
	for (const c of children)
		process.kill(c.pid, "SIGKILL");
	return () => renameSync(`${sock}.away`, sock);
}

/* ---- the tests ---- */

const tests = [];
const test = (name, groups, fn) => tests.push({ name, groups, fn });

test("live", ["main"], async (name) => {
	const e = await account("live");
	const A = await signedIn(e, "A", true), B = await signedIn(e, "B", true);
	const t0 = Date.now();
	await A.page.evaluate(() => t.collection("notes").put("n1", { title: "from A" }));
	await waitFor(B.page, () => t.collection("notes").get("n1")?.title === "from A", null, 5000, "B to see A's write");
	const latencyAB = Date.now() - t0;
	const t1 = Date.now();
	await B.page.evaluate(() => t.collection("notes").put("n2", { title: "from B" }));
	await waitFor(A.page, () => t.collection("notes").get("n2")?.title === "from B", null, 5000, "A to see B's write");
	const latencyBA = Date.now() - t1;
	await B.page.evaluate(() => t.collection("notes").delete("n1"));
	await waitFor(A.page, () => t.collection("notes").get("n1") === undefined, null, 5000, "A to see B's delete");
	const aChanges = (await logOf(A.page, "change")).map((l) => [l.v.id, l.v.deleted]);
	const bChanges = (await logOf(B.page, "change")).map((l) => [l.v.id, l.v.deleted]);
	eq(aChanges, [["n2", false], ["n1", true]], "A's change events (never its own put)");
	eq(bChanges, [["n1", false]], "B's change events");
	const aEvents = (await logOf(A.page, "event")).filter((l) => l.v.type === "record.changed").map((l) => l.v.device_id);
	assert(aEvents.length === 3, `A saw ${aEvents.length} record.changed events, want 3 (its own included)`);
	eq(await A.page.evaluate(() => t.collection("notes").all().map((r) => r.id)), ["n2"], "A's all()");
	eq(await A.page.evaluate(() => t.pending), 0, "A's pending");
	const streams = A.requests.filter((r) => r.url.includes("/api/v1/events") && r.type?.startsWith("text/event-stream"));
	assert(streams.length >= 1, "A listened on the event stream");
	note(name, `a write reached the other device in ${latencyAB} ms and ${latencyBA} ms (over the event stream)`);
});

test("offline", ["main"], async (name) => {
	const e = await account("offline");
	const A = await signedIn(e, "A", true), B = await signedIn(e, "B", true);

	await setOffline(A.page, true);
	await waitFor(A.page, () => t.status === "offline", null, 5000, "A's status to be offline");
	const before = A.requests.length;
	await A.page.evaluate(async () => {
		const notes = t.collection("notes");
		await notes.put("o1", { title: "written offline", n: 1 });
		await notes.put("o1", { title: "written offline", n: 2 });
		await notes.put("o2", { title: "second" });
	});
	eq(await A.page.evaluate(() => t.pending), 2, "pending while offline (two puts of o1 count once)");
	eq(await A.page.evaluate(() => t.collection("notes").get("o1")), { title: "written offline", n: 2 }, "the local copy offline");
	await sleep(1500);
	const triedOffline = A.requests.slice(before).filter((r) => r.url.includes("/sync/push")).length;

	// The reload: the page comes back, the API stays unreachable, so the
	// queue must come from IndexedDB.
	await A.page.setRequestInterception(true);
	const blockApi = (r) => (r.url().includes("/api/v1/") ? r.abort("internetdisconnected") : r.continue());
	A.page.on("request", blockApi);
	await setOffline(A.page, false);
	await A.page.reload({ waitUntil: "load" });
	await client(A.page, { device: { platform: "test", name: "A" } });
	eq(await A.page.evaluate(() => [t.signedIn, t.pending, t.collection("notes").get("o1")]),
	    [true, 2, { title: "written offline", n: 2 }], "after the reload: signed in, the queue and the local copy");
	const pushesBefore = A.requests.length;
	await A.page.evaluate(() => t.start());
	await sleep(800);
	A.page.off("request", blockApi);
	await A.page.setRequestInterception(false);
	const back = Date.now();
	await waitFor(A.page, () => t.pending === 0, null, 20_000, "the queue to empty once the API is back");
	const pushedIn = Date.now() - back;
	await waitFor(B.page, () => t.collection("notes").get("o1")?.n === 2 && t.collection("notes").get("o2"), null, 5000, "B to see the offline writes");
	await sleep(1000);
	const landed = A.requests.slice(pushesBefore).filter((r) => r.url.endsWith("/sync/push") && r.status === 200);
	eq(landed.length, 1, "pushes that reached the server after the reload");
	const bChanges = (await logOf(B.page, "change")).map((l) => l.v.id).sort();
	eq(bChanges, ["o1", "o2"], "B's changes (each once)");
	const tok = await apiLogin(e, "checker");
	const pull = await api("GET", "/sync/pull?since=0", { token: tok });
	eq(pull.body.changes.map((c) => [c.id, c.data]), [["o1", { title: "written offline", n: 2 }], ["o2", { title: "second" }]], "the server's records");
	const ev = await api("GET", "/events?after=0&limit=1000", { token: tok });
	const writes = ev.body.events.filter((x) => x.type === "record.changed").reduce((n, x) => n + x.data.count, 0);
	eq(writes, 2, "records written by the server (record.changed counts)");
	note(name, `pending 2 offline; ${triedOffline} push attempts failed while offline; after the reload the queue came from IndexedDB and was pushed ${pushedIn} ms after the API came back, in 1 push`);
});

test("cors", ["main"], async (name) => {
	const e = await account("cors");
	const page = (sdk) => `<!doctype html><meta charset="utf-8"><title>elsewhere</title><p>another origin
		<script type="module">import { Tandem } from ${JSON.stringify(sdk)}; window.TandemFromSdk = Tandem;</script>`;
	const server = http.createServer((req, res) => {
		res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
		res.end(page(`${BASE}/sdk/tandem.js`));
	});
	await new Promise((r) => server.listen(Number(process.env.ORIGIN_PORT), "127.0.0.1", r));
	const other = http.createServer((req, res) => {
		res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
		res.end(page(`${BASE}/sdk/tandem.js`));
	});
	await new Promise((r) => other.listen(Number(process.env.OTHER_PORT), "127.0.0.1", r));
	try {
		const origin = `http://127.0.0.1:${process.env.ORIGIN_PORT}`;
		const A = await device(`${origin}/`);
		await A.page.waitForFunction(() => window.TandemFromSdk, { timeout: 5000 });
		await client(A.page, { baseUrl: BASE, device: { platform: "test", name: "elsewhere" } }, `${BASE}/sdk/tandem.js`);
		await A.page.evaluate((e, pw) => t.login(e, pw), e, PASSWORD);
		await A.page.evaluate(() => t.start());
		await waitFor(A.page, () => t.status === "online", null, 5000, "the other origin's client online");
		await A.page.evaluate(() => t.collection("notes").put("x1", { title: "cross-origin" }));
		await waitFor(A.page, () => t.pending === 0, null, 5000, "the push through CORS");
		const tok = await apiLogin(e, "curl");
		const r = await api("GET", "/collections/notes/records/x1", { token: tok });
		eq(r.body.record.data, { title: "cross-origin" }, "the record on the server");
		await api("POST", "/sync/push", { token: tok, body: { changes: [{ collection: "notes", id: "x2", base_version: 0, data: { title: "to the other origin" } }] } });
		await waitFor(A.page, () => t.collection("notes").get("x2"), null, 5000, "a change from curl, live, cross-origin");
		const preflights = A.requests.filter((q) => q.method === "OPTIONS").length;
		const apiCalls = A.requests.filter((q) => q.url.startsWith(API)).length;
		assert(preflights >= 1, "no preflight was seen");
		// A page on an origin that is not allowed: the browser refuses the answers.
		const B = await device(`http://127.0.0.1:${process.env.OTHER_PORT}/`);
		await B.page.waitForFunction(() => window.TandemFromSdk, { timeout: 5000 });
		await client(B.page, { baseUrl: BASE }, `${BASE}/sdk/tandem.js`);
		const refused = await B.page.evaluate((e, pw) => t.login(e, pw).then(() => "signed in", (x) => `${x.name} ${x.code} ${x.status}`), e, PASSWORD);
		eq(refused, "TandemError NETWORK 0", "a login from an origin not allowed");
		note(name, `a page on ${origin} loaded /sdk/tandem.js and synced both ways (${apiCalls} API requests, ${preflights} preflights); a page on port ${process.env.OTHER_PORT} is refused`);
	} finally {
		server.close();
		other.close();
		server.closeAllConnections?.();
		other.closeAllConnections?.();
	}
});

test("token", ["token"], async (name) => {
	const e = await account("token");
	const A = await signedIn(e, "A");
	await sleep(2600);	/* TANDEM_ACCESS_TTL_S=2 */
	const from = A.requests.length;
	await A.page.evaluate(() => t.collection("notes").put("t1", { title: "after expiry" }));
	await waitFor(A.page, () => t.pending === 0, null, 5000, "the push after a refresh");
	await sleep(300);
	const seen = A.requests.slice(from).map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`);
	eq(seen, ["POST /api/v1/sync/push 401", "POST /api/v1/auth/refresh 200", "POST /api/v1/sync/push 200"], "the requests");
	// Three requests at once with an expired token: still one refresh.
	await sleep(2600);
	const from2 = A.requests.length;
	const got = await A.page.evaluate(() => Promise.all([t.devices().then((d) => d.length),
		t.publish("app.ping", { n: 1 }).then((x) => x.type), t.request("GET", "/sync/stats").then((s) => typeof s.conflicts_open)]));
	eq(got, [1, "app.ping", "number"], "the three answers");
	const refreshes = A.requests.slice(from2).filter((r) => r.url.endsWith("/auth/refresh")).length;
	eq(refreshes, 1, "refreshes for three requests at once");
	eq((await logOf(A.page, "auth")).length, 0, "auth events");
	// The refresh token, copied and spent elsewhere (a stolen copy): the
	// client's next refresh is TOKEN_REUSED, which ends its login.
	const stolen = await A.page.evaluate(() => new Promise((resolve, reject) => {
		const open = indexedDB.open(`tandem:${location.origin}`);
		open.onsuccess = () => {
			const get = open.result.transaction("meta").objectStore("meta").get("session");
			get.onsuccess = () => { resolve(get.result.refresh_token); open.result.close(); };
			get.onerror = () => reject(get.error);
		};
		open.onerror = () => reject(open.error);
	}));
	const thief = await api("POST", "/auth/refresh", { body: { refresh_token: stolen } });
	eq(thief.status, 200, "the thief's refresh");
	await sleep(2600);
	const from3 = A.requests.length;
	const reused = await A.page.evaluate(() => t.devices().then(() => "answered", (x) => x.code));
	await sleep(1500);
	const auth = await logOf(A.page, "auth");
	eq([reused, auth.length, auth[0]?.v.code, await A.page.evaluate(() => [t.status, t.signedIn])],
	    ["TOKEN_REUSED", 1, "TOKEN_REUSED", ["offline", false]], "a spent refresh token");
	const third = A.requests.slice(from3).map((r) => `${r.method} ${new URL(r.url).pathname} ${r.status}`);
	eq(third, ["GET /api/v1/devices 401", "POST /api/v1/auth/refresh 401"], "the requests around TOKEN_REUSED (no retry)");
	note(name, `an expired token: 401 TOKEN_EXPIRED, one refresh, the push retried (${seen.length} requests); three requests at once: ${refreshes} refresh; a refresh token spent by a thief: TOKEN_REUSED, "auth", offline, no retry`);
});

test("revoked", ["main"], async (name) => {
	const e = await account("revoked");
	const A = await signedIn(e, "A", true), B = await signedIn(e, "B");
	const aId = await A.page.evaluate(() => t.deviceId);
	const revokedAt = Date.now();
	await B.page.evaluate((id) => t.revokeDevice(id), aId);
	await waitFor(A.page, () => window.log.some((l) => l.type === "auth"), null, 10_000, "A's auth event");
	const auth = (await logOf(A.page, "auth"))[0];
	const endedAt = auth.at;
	eq([auth.v.code, auth.v.status], ["DEVICE_REVOKED", 401], "the auth event");
	eq(await A.page.evaluate(() => [t.status, t.signedIn]), ["offline", false], "A's status and session");
	await A.page.evaluate(() => t.collection("notes").put("late", { title: "after revocation" }).catch(() => {}));
	await A.page.evaluate(() => t.sync().catch((x) => x.code)).then((c) => eq(c, "NOT_SIGNED_IN", "sync() after revocation"));
	await sleep(4000);
	const after = A.requests.filter((r) => r.at > endedAt && r.url.includes("/api/v1/"));
	eq(after.length, 0, "A's requests after the auth event");
	const before = A.requests.filter((r) => r.at <= endedAt && r.url.includes("/api/v1/")).length;
	eq(await A.page.evaluate(() => t.pending), 1, "the late put stays queued");
	const statuses = (await logOf(A.page, "status")).map((l) => l.v);
	eq(statuses.at(-1), "offline", "A's last status");
	note(name, `revoked from B: A got "auth" DEVICE_REVOKED ${endedAt - revokedAt} ms after, status offline; ${before} requests before, ${after.length} in the 4 s after (a put and a sync() included)`);
});

test("reconnect", ["main"], async (name) => {
	const e = await account("reconnect");
	const A = await signedIn(e, "A", true);
	const tok = await apiLogin(e, "curl");
	// before the outage: two writes A sees live
	curl("POST", "/sync/push", tok, { changes: [{ collection: "notes", id: "r0", base_version: 0, data: { n: 0 } }] });
	curl("POST", "/events", tok, { type: "app.tick", data: { n: 0 } });
	await waitFor(A.page, () => t.collection("notes").get("r0") && window.log.some((l) => l.type === "event" && l.v.type === "app.tick"), null, 5000, "the writes before the outage");

	const restore = tandemdDown();
	const downAt = Date.now();
	let restored = false;
	try {
		await waitFor(A.page, () => t.status === "offline", null, 5000, "A offline when tandemd is down");
		await sleep(30_000);
	} finally {
		restore();
		restored = true;
	}
	const upAt = Date.now();
	// while A is still waiting out its back-off: writes from another device
	const written = [];
	for (let i = 1; i <= 5; i++) {
		const r = curl("POST", "/sync/push", tok, { changes: [{ collection: "notes", id: `r${i}`, base_version: 0, data: { n: i } }] });
		written.push(r.status);
		curl("POST", "/events", tok, { type: "app.tick", data: { n: i } });
	}
	eq(written, [200, 200, 200, 200, 200], "the writes through curl");
	await waitFor(A.page, () => [1, 2, 3, 4, 5].every((i) => t.collection("notes").get(`r${i}`)?.n === i), null, 70_000, "every write after the outage");
	await waitFor(A.page, () => t.status === "online", null, 5000, "A online again");
	const caughtUp = Date.now() - upAt;
	await sleep(1500);
	const changes = (await logOf(A.page, "change")).map((l) => l.v.id);
	eq(changes, ["r0", "r1", "r2", "r3", "r4", "r5"], "change events (each record once, none missed)");
	const ticks = (await logOf(A.page, "event")).filter((l) => l.v.type === "app.tick").map((l) => l.v.data.n);
	eq(ticks, [0, 1, 2, 3, 4, 5], "app events (each once, in order)");
	const seqs = (await logOf(A.page, "event")).map((l) => l.v.seq);
	assert(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `event seqs not increasing: ${seqs}`);
	const server = await api("GET", "/events?after=0&limit=1000", { token: tok });
	const expected = server.body.events.filter((x) => x.seq >= seqs[0]).map((x) => x.seq);
	eq(seqs, expected, "A's event seqs against the server's log (none missed, none twice)");
	const retries = (await logOf(A.page, "retry")).filter((l) => l.v.what === "live" && l.at >= downAt);
	const delays = retries.map((l) => l.v.delayMs);
	const tries = A.requests.filter((r) => r.at >= downAt && r.at < upAt && r.url.includes("/api/v1/")).map((r) => r.at - downAt);
	assert(retries.length >= 4, `only ${retries.length} retries in 30 s`);
	// full jitter under the back-off's ceiling, or the server's retry: when longer
	const ceilings = retries.map((l) => Math.max(l.v.floorMs ?? 0, Math.min(60_000, 1000 * 2 ** (l.v.attempt - 1))));
	assert(delays.every((d, i) => d >= 0 && d < ceilings[i] + 1), `a delay past its ceiling: ${delays} vs ${ceilings}`);
	const statuses = (await logOf(A.page, "status")).filter((l) => l.at >= downAt).map((l) => l.v);
	assert(statuses.includes("offline") && statuses.at(-1) === "online", `statuses ${statuses}`);
	note(name, `tandemd down ${upAt - downAt} ms; A retried (attempt: delay) ${retries.map((l) => `${l.v.attempt}: ${l.v.delayMs}`).join(", ")} ms (full jitter under 1 s, 2 s, 4 s, 8 s …, at least the stream's retry: ${retries[0]?.v.floorMs ?? 0} ms), requests at +${tries.join(", +")} ms; caught up ${caughtUp} ms after tandemd was back: 5 records and 5 app events, each once (restored: ${restored})`);
});

test("conflict", ["main"], async (name) => {
	const e = await account("conflict");
	const A = await signedIn(e, "A", true), B = await signedIn(e, "B", true);
	await A.page.evaluate(() => t.collection("notes").put("c1", { title: "base", body: "one" }));
	await waitFor(B.page, () => t.collection("notes").get("c1")?.title === "base", null, 5000, "B to have the base");
	await setOffline(A.page, true);
	await setOffline(B.page, true);
	await A.page.evaluate(() => t.collection("notes").put("c1", { title: "A's title", body: "one" }));
	await B.page.evaluate(() => t.collection("notes").put("c1", { title: "B's title", body: "one" }));
	await setOffline(A.page, false);
	await waitFor(A.page, () => t.pending === 0, null, 15_000, "A's push");
	await setOffline(B.page, false);
	await waitFor(B.page, () => t.pending === 0, null, 15_000, "B's push");
	await waitFor(A.page, () => window.log.some((l) => l.type === "conflict"), null, 10_000, "A's conflict event");
	await waitFor(B.page, () => window.log.some((l) => l.type === "conflict"), null, 10_000, "B's conflict event");
	const ca = await logOf(A.page, "conflict"), cb = await logOf(B.page, "conflict");
	const c = cb[0].v;
	eq([c.status, c.record_id, c.client.data.title, c.server.data.title], ["open", "c1", "B's title", "A's title"], "the conflict");
	eq(await B.page.evaluate(() => t.collection("notes").get("c1").title), "A's title", "B's local copy holds the server's version");
	await sleep(1500);
	eq([(await logOf(A.page, "conflict")).length, (await logOf(B.page, "conflict")).length], [1, 1], "conflict events per device (once per id)");
	eq(ca[0].v.id, c.id, "the same conflict on both");
	const merged = { title: "A's title + B's title", body: "one" };
	const res = await A.page.evaluate((id, data) => t.resolve(id, "merged", data), c.id, merged);
	eq([res.conflict.status, res.record.data], ["resolved", merged], "resolve's answer");
	eq(await A.page.evaluate(() => t.collection("notes").get("c1")), merged, "A's local copy after resolve");
	try {
		await waitFor(B.page, (m) => t.collection("notes").get("c1")?.title === m, merged.title, 5000, "B to get the resolution");
	} catch (x) {
		console.log(JSON.stringify(await B.page.evaluate(() => [t.collection("notes").get("c1"), t.pending, window.log.filter((l) => l.type !== "status")])));
		throw x;
	}
	const tok = await apiLogin(e, "checker");
	eq((await api("GET", "/conflicts?status=open", { token: tok })).body.conflicts.length, 0, "open conflicts on the server");
	eq(await A.page.evaluate(() => t.conflicts().length), 0, "A's open conflicts");
	note(name, `offline edits on both: conflict ${c.id} fired once on each device; resolved "merged" on A, B's copy followed`);
});

test("session", ["main"], async (name) => {
	const e = await account("session");
	const A = await signedIn(e, "A"), B = await signedIn(e, "B");
	await B.page.evaluate(() => t.start());
	const out = await A.page.evaluate(async () => {
		const s = t.session("chat-1");
		const opened = await s.open({ title: "Chat" });
		const again = await s.open({ title: "Chat" });
		const m = await s.send({ text: "hi" }, { clientMsgId: "m-fixed" });
		const retry = await s.send({ text: "hi" }, { clientMsgId: "m-fixed" });
		const p = await s.claimPrimary({ renew: true });
		await t.publish("app.progress", { done: 3, of: 10 }, { sessionId: "chat-1" });
		const list = await s.messages({ after: 0 });
		return { opened: opened.id, again: again.id, seq: m.seq, retry: [retry.id === m.id, retry.duplicate], p, n: list.messages.length };
	});
	eq([out.opened, out.again, out.seq, out.retry, out.n], ["chat-1", "chat-1", 1, [true, "retry"], 1], "open, send, retry, messages");
	eq([out.p.isMe, out.p.epoch, typeof out.p.leaseExpiresAt], [true, 1, "number"], "claimPrimary");
	const held = await B.page.evaluate(() => t.session("chat-1").claimPrimary().then(() => "claimed", (x) => `${x.name} ${x.code} ${x.status}`));
	eq(held, "TandemError PRIMARY_HELD 409", "a claim on a held role");
	await waitFor(B.page, () => window.log.some((l) => l.type === "primary"), null, 5000, "B's primary event");
	const p = (await logOf(B.page, "primary"))[0].v;
	eq([p.sessionId, p.isMe, p.epoch], ["chat-1", false, 1], "B's primary event");
	await waitFor(B.page, () => window.log.some((l) => l.type === "event" && l.v.type === "app.progress"), null, 5000, "the app event on B");
	note(name, "open (idempotent), send and its retry (duplicate: retry), messages, claimPrimary and PRIMARY_HELD, primary and app events");
});

test("renewal", ["token"], async (name) => {
	const e = await account("renewal");
	const A = await signedIn(e, "A"), B = await signedIn(e, "B");
	const p = await A.page.evaluate(async () => {
		await t.session("s-r").open();
		return t.session("s-r").claimPrimary({ renew: true });
	});
	const lease = p.leaseExpiresAt - Date.now();
	await sleep(Math.max(lease * 2, 3000));	/* two leases: lost without renewal */
	const renews = A.requests.filter((r) => r.method === "POST" && r.url.endsWith("/sessions/s-r/primary")).length - 1;
	const held = await B.page.evaluate(() => t.session("s-r").claimPrimary({ renew: false }).then(() => "claimed", (x) => x.code));
	eq(held, "PRIMARY_HELD", "B's claim while A renews");
	assert(renews >= 4, `only ${renews} renewals in two leases (want about 6)`);
	await A.page.evaluate(() => t.stop());
	const stoppedAt = Date.now();
	await sleep(lease + 2500);
	const after = A.requests.filter((r) => r.at > stoppedAt).length;
	eq(after, 0, "A's requests after stop()");
	const claimed = await B.page.evaluate(() => t.session("s-r").claimPrimary({ renew: false }).then((x) => x.isMe, (x) => x.code));
	eq(claimed, true, "B's claim once A stopped renewing");
	note(name, `a ${Math.round(lease)} ms lease renewed ${renews} times in ${Math.round(lease * 2)} ms (about every third); none after stop()`);
});

test("cursor-expired", ["token"], async (name) => {
	// TANDEM_TOMBSTONE_DAYS=0: the sweeper purges tombstones within a
	// second, raising the purge floor past A's sync cursor.
	const e = await account("expired");
	const tok = await apiLogin(e, "curl");
	const push = (changes) => api("POST", "/sync/push", { token: tok, body: { changes } });
	const v = {};
	for (const id of ["r1", "r2", "r3"])
		v[id] = (await push([{ collection: "notes", id, base_version: 0, data: { id } }])).body.results[0].version;
	const A = await signedIn(e, "A");
	await A.page.evaluate(() => t.sync());
	eq(await A.page.evaluate(() => t.collection("notes").all().map((r) => r.id)), ["r1", "r2", "r3"], "A's copy");
	await push([{ collection: "notes", id: "r2", base_version: v.r2, deleted: true }]);
	await push([{ collection: "notes", id: "r4", base_version: 0, data: { id: "r4" } }]);
	await sleep(2500);	/* a sweep or two (and A's token expires: TTL 2 s) */
	const from = A.requests.length;
	await A.page.evaluate(() => t.sync());
	const seen = A.requests.slice(from).filter((r) => r.url.includes("/sync/pull") && r.status !== 401).map((r) => `${r.method} ${new URL(r.url).pathname}${new URL(r.url).search.replace(/&limit=\d+/, "")} ${r.status}`);
	assert(seen.length === 2 && / 410$/.test(seen[0]) && seen[1] === "GET /api/v1/sync/pull?since=0 200", `requests: ${seen}`);
	eq(await A.page.evaluate(() => t.collection("notes").all().map((r) => r.id)), ["r1", "r3", "r4"], "A's copy, replaced");
	const changes = (await logOf(A.page, "change")).slice(3).map((l) => [l.v.id, l.v.deleted]).sort();
	eq(changes, [["r2", true], ["r4", false]], "the change events of the replacement");
	note(name, `a tombstone purged past A's cursor: ${seen.join(", ")}; the local copy was replaced (r2 gone, r4 new)`);
});

test("link", ["main"], async (name) => {
	const probe = await api("POST", "/auth/link", { body: { device: { id: "probe", platform: "test", name: "probe" } } });
	if (probe.status === 404)
		throw new Skip("the server answers 404 on POST /api/v1/auth/link (the link routes are not built yet)");
	const e = await account("link");
	const A = await device(), N = await device();
	await client(A.page, { device: { platform: "test", name: "A" } });
	await client(N.page, { device: { platform: "test", name: "new" } });
	await A.page.evaluate((e, pw) => t.login(e, pw), e, PASSWORD);
	const code = await N.page.evaluate(async () => {
		window.link = await t.link();
		window.linked = window.link.approved.then((s) => s, (x) => ({ error: x.code }));
		return window.link.code;
	});
	assert(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/.test(code), `code ${code}`);
	const approved = await A.page.evaluate((c) => t.approveLink(c.toLowerCase().replace("-", "")), code);
	eq(approved.status, "approved", "approveLink");
	const s = await N.page.evaluate(() => window.linked);
	assert(!s.error, `approved rejected: ${s.error}`);
	eq(await N.page.evaluate(() => t.signedIn), true, "the new device signed in");
	await N.page.evaluate(() => t.collection("notes").put("l1", { title: "from the linked device" }));
	await waitFor(N.page, () => t.pending === 0, null, 5000, "the linked device's push");
	note(name, `code ${code} shown, approved on the other device, the new one signed in and pushed`);
});

test("demo-link", ["main"], async (name) => {
	// the demo's own buttons: a browser signs in with a code another approves
	const e = email("demolink");
	const A = await device(`${BASE}/demo/`), N = await device(`${BASE}/demo/`);
	await A.page.waitForSelector("#signin:not([hidden])");
	await A.page.type("#email", e);
	await A.page.type("#password", PASSWORD);
	await A.page.click("#register");
	await A.page.waitForSelector("#app:not([hidden])", { timeout: 10_000 });
	await N.page.waitForSelector("#signin:not([hidden])");
	await N.page.$eval("#device-name", (el) => { el.value = "Linked browser"; });
	await N.page.click("#link-start");
	await N.page.waitForSelector("#link-new-out .code", { timeout: 5000 });
	const code = await N.page.$eval("#link-new-out .code", (el) => el.textContent);
	assert(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/.test(code), `code ${code}`);
	await A.page.type("#approve-code", code.toLowerCase());
	await A.page.click("#approve-form button[type=submit]");
	await A.page.waitForFunction(() => document.querySelector("#approve-out").textContent.startsWith("Approved"), { timeout: 5000 });
	await N.page.waitForSelector("#app:not([hidden])", { timeout: 10_000 });
	await N.page.type("#new-title", "From the linked browser");
	await N.page.click("#add");
	await A.page.waitForFunction(() => [...document.querySelectorAll(".note .title")].some((x) => x.value === "From the linked browser"), { timeout: 5000 });
	note(name, `code ${code} shown by the demo, typed in lower case on the other, the new browser signed in and its note reached the first`);
});

test("stream", ["token"], async (name) => {
	// The real stream: this group's server ends each after 3 s
	// (TANDEM_STREAM_MAX_S) and its tokens last 2 s, so A reopens its
	// stream again and again, refreshing as it goes, while B writes.
	const e = await account("stream");
	const A = await signedIn(e, "A", true), B = await signedIn(e, "B", true);
	const t0 = Date.now();
	for (let i = 1; i <= 24; i++) {
		await B.page.evaluate((i) => t.collection("notes").put(`s${i}`, { n: i }), i);
		await B.page.evaluate((i) => t.publish("app.tick", { n: i }), i);
		await sleep(600);
	}
	await waitFor(A.page, () => Array.from({ length: 24 }, (_, i) => i + 1).every((i) => t.collection("notes").get(`s${i}`)?.n === i), null, 15_000, "every write on A");
	await waitFor(A.page, () => window.log.filter((l) => l.type === "event" && l.v.type === "app.tick").length >= 24, null, 10_000, "every app event on A");
	await sleep(500);
	const changes = (await logOf(A.page, "change")).map((l) => l.v.id);
	eq(changes, Array.from({ length: 24 }, (_, i) => `s${i + 1}`), "A's change events (each record once)");
	const ticks = (await logOf(A.page, "event")).filter((l) => l.v.type === "app.tick").map((l) => l.v.data.n);
	eq(ticks, Array.from({ length: 24 }, (_, i) => i + 1), "A's app events (each once, in order)");
	const seqs = (await logOf(A.page, "event")).map((l) => l.v.seq);
	const tok = await apiLogin(e, "curl-stream");
	const server = await api("GET", "/events?after=0&limit=1000", { token: tok });
	const expected = server.body.events.filter((x) => x.seq >= seqs[0] && x.seq <= seqs.at(-1)).map((x) => x.seq);
	eq(seqs, expected, "A's event seqs against the server's log (none missed, none twice)");
	const streams = A.requests.filter((r) => r.url.includes("/api/v1/events") && r.type?.startsWith("text/event-stream"));
	assert(streams.length >= 3, `A opened ${streams.length} streams in ${Date.now() - t0} ms, want 3 or more (each ends after 3 s)`);
	const gaps = streams.slice(1).map((r, i) => r.at - streams[i].at);
	assert(gaps.every((g) => g >= 3000 + 1900), `a stream reopened before its end and retry: had passed: ${gaps}`);
	const refreshes = (await logOf(A.page, "refresh")).length;
	note(name, `the real server: ${streams.length} streams in ${Math.round((Date.now() - t0) / 1000)} s (each ended by the server after 3 s, reopened after its retry: in ${gaps.map((g) => g - 3000).join(", ")} ms), ${refreshes} token refreshes; 24 records and 24 app events from B, each once and in order`);
});

test("stream-fake", ["main"], async (name) => {
	// A fake server on loopback checks the client's side of the stream in
	// detail (tandem.js in Node, memory storage): the parser's line
	// endings, a repeated id, a block split across writes.
	const { Tandem, sseParser } = await import(join(TOP, "clients/js/tandem.js"));
	const blocks = [];
	const feed = sseParser((b) => blocks.push(b));
	for (const piece of ["retry: 2500\r", "\n\r\n: ping\n\nid: 7\nevent: x\ndata: a\r\nda", "ta: b\n", "\n", "data:c\rid\n\r"])
		feed(piece);
	eq(blocks.map((b) => [b.event, b.data, b.id, b.retry, b.comment]), [["message", null, undefined, 2500, undefined],
		["message", null, undefined, undefined, "ping"], ["x", "a\nb", "7", undefined, undefined], ["message", "c", "", undefined, undefined]], "the SSE parser");

	const hits = [];
	const streams = [];
	let firstEnded = 0;
	const records = [{ collection: "notes", id: "s1", version: 10, data: { t: "from the stream" }, deleted: false, device_id: "other" }];
	const ev = (seq, type, data, device = "other") => JSON.stringify({ seq, type, at: Date.now(), device_id: device, data });
	const server = http.createServer(async (req, res) => {
		const u = new URL(req.url, "http://x");
		hits.push({ at: Date.now(), method: req.method, path: u.pathname, q: u.search, accept: req.headers.accept, auth: req.headers.authorization });
		const json = (status, body, type = "application/json") => {
			res.writeHead(status, { "Content-Type": type });
			res.end(JSON.stringify(body));
		};
		if (u.pathname === "/api/v1/auth/login")
			return json(200, { access_token: "tok", token_type: "Bearer", expires_in: 3600, refresh_token: "r", user: { id: "u1", email: "s@x" }, device: { id: "d1" } });
		if (u.pathname === "/api/v1/sync/pull") {
			const since = Number(u.searchParams.get("since"));
			const changes = records.filter((r) => r.version > since);
			return json(200, { changes, cursor: Math.max(since, ...changes.map((c) => c.version)), more: false });
		}
		if (u.pathname === "/api/v1/conflicts")
			return json(200, { conflicts: [], next_after: 0, more: false });
		if (u.pathname === "/api/v1/events" && !u.searchParams.has("after"))
			return json(200, { events: [], cursor: 0, more: false });
		if (u.pathname === "/api/v1/events" && req.headers.accept === "text/event-stream") {
			res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store" });
			const n = streams.push(u.searchParams.get("after"));
			const write = (t) => res.write(t);
			if (n === 1) {
				write("retry: 300\n\n");
				write(`id: 1\nevent: record.changed\ndata: ${ev(1, "record.changed", { collections: ["notes"], count: 1, version: 10 })}\n\n`);
				await sleep(50);
				write(`: ping\n\nid: 2\nevent: app.tick\r\ndata: ${ev(2, "app.tick", { n: 2 })}\r\n\r\n`);
				await sleep(50);
				firstEnded = Date.now();
				return res.end();	/* the server ends the stream: reconnect after retry: */
			}
			write("retry: 300\n\n");
			const third = ev(3, "app.tick", { n: 3 });
			write(`id: 2\nevent: app.tick\ndata: ${ev(2, "app.tick", { n: 2 })}\n\n`);	/* a repeat: dropped */
			write(`id: 3\nevent: app.tick\ndata: ${third.slice(0, 20)}`);
			await sleep(30);
			write(`${third.slice(20)}\n\n`);
			await sleep(100);
			write(`event: error\ndata: ${JSON.stringify({ type: "/errors/DEVICE_REVOKED", title: "Device revoked", status: 401, code: "DEVICE_REVOKED", detail: "revoked" })}\n\n`);
			return res.end();
		}
		json(404, { type: "/errors/NOT_FOUND", title: "Not found", status: 404, code: "NOT_FOUND" }, "application/problem+json");
	});
	await new Promise((r) => server.listen(0, "127.0.0.1", r));
	const t = new Tandem({ baseUrl: `http://127.0.0.1:${server.address().port}`, storage: "memory", device: { id: "d1", platform: "node", name: "node" } });
	const log = [];
	for (const type of ["event", "change", "auth", "status", "retry"])
		t.on(type, (v) => log.push({ type, at: Date.now(), v }));
	try {
		await t.login("s@x", "whatever1");
		t.start();
		const until = Date.now() + 5000;
		while (!log.some((l) => l.type === "auth") && Date.now() < until)
			await sleep(50);
		const endedAt = Date.now();
		await sleep(800);
		eq(log.filter((l) => l.type === "event").map((l) => l.v.seq), [1, 2, 3], "events from the stream (each once)");
		eq(streams, ["0", "2"], "the cursors the two streams started from");
		eq(t.collection("notes").get("s1"), { t: "from the stream" }, "a pull on record.changed");
		eq(log.filter((l) => l.type === "change").map((l) => l.v.id), ["s1"], "change events");
		const auth = log.find((l) => l.type === "auth");
		eq([auth?.v.code, t.status, t.signedIn], ["DEVICE_REVOKED", "offline", false], "event: error with DEVICE_REVOKED");
		const s = hits.filter((h) => h.accept === "text/event-stream");
		assert(s.every((h) => h.auth === "Bearer tok"), "the bearer header on the stream");
		const reopened = s[1].at - firstEnded;
		assert(reopened >= 295, `the stream was reopened ${reopened} ms after the server ended it, before retry: 300 had passed`);
		const after = hits.filter((h) => h.at > endedAt).length;
		eq(after, 0, "requests after the auth event");
		note(name, `fake SSE server: 3 events once each across a stream the server ended (reopened ${reopened} ms after the server ended it, with retry: 300, from after=2; a repeated id 2 dropped), a pull on record.changed, event: error DEVICE_REVOKED ended the session, ${after} requests after`);
	} finally {
		t.close();
		server.close();
		server.closeAllConnections?.();
	}
});

test("demo", ["main"], async (name) => {
	const e = email("demo");
	const A = await device(`${BASE}/demo/`), B = await device(`${BASE}/demo/`);
	for (const [D, dev] of [[A, "Laptop"], [B, "Phone"]]) {
		await D.page.setViewport({ width: 800, height: 860 });
		await D.page.waitForSelector("#signin:not([hidden])");
		await D.page.type("#email", e);
		await D.page.type("#password", PASSWORD);
		await D.page.$eval("#device-name", (el, v) => { el.value = v; }, dev);
		await D.page.click(D === A ? "#register" : "#login");
		await D.page.waitForSelector("#app:not([hidden])", { timeout: 10_000 });
		await D.page.waitForFunction(() => document.querySelector("#conn").dataset.state === "online", { timeout: 10_000 });
	}
	// add on A, see it on B
	await A.page.type("#new-title", "Groceries");
	await A.page.type("#new-body", "milk, eggs");
	await A.page.click("#add");
	await B.page.waitForFunction(() => [...document.querySelectorAll(".note .title")].some((x) => x.value === "Groceries"), { timeout: 5000 });
	await A.page.type("#new-title", "Call Sam");
	await A.page.click("#add");
	await B.page.waitForFunction(() => document.querySelectorAll(".note").length === 2, { timeout: 5000 });
	// edit on B, see it on A
	await B.page.evaluate(() => {
		const n = [...document.querySelectorAll(".note")].find((x) => x.querySelector(".title").value === "Call Sam");
		const body = n.querySelector(".body");
		body.value = "about Friday";
		body.dispatchEvent(new Event("change"));
	});
	await A.page.waitForFunction(() => [...document.querySelectorAll(".note .body")].some((x) => x.value === "about Friday"), { timeout: 5000 });
	// the devices list shows both, online
	await A.page.waitForFunction(() => document.querySelectorAll("#devices li.online").length === 2, { timeout: 10_000 });
	// offline on B: the badge counts the queued change
	await setOffline(B.page, true);
	await B.page.waitForFunction(() => document.querySelector("#conn").dataset.state === "offline", { timeout: 5000 });
	await B.page.evaluate(() => {
		const n = [...document.querySelectorAll(".note")].find((x) => x.querySelector(".title").value === "Groceries");
		const body = n.querySelector(".body");
		body.value = "milk, eggs, bread";
		body.dispatchEvent(new Event("change"));
	});
	await B.page.waitForFunction(() => document.querySelector("#pending").textContent.includes("1"), { timeout: 5000 });
	// meanwhile A edits the same note: a conflict when B comes back
	await A.page.evaluate(() => {
		const n = [...document.querySelectorAll(".note")].find((x) => x.querySelector(".title").value === "Groceries");
		const body = n.querySelector(".body");
		body.value = "milk, eggs, coffee";
		body.dispatchEvent(new Event("change"));
	});
	await sleep(500);
	await setOffline(B.page, false);
	await B.page.waitForSelector(".conflict", { timeout: 15_000 });
	await A.page.waitForSelector(".conflict", { timeout: 10_000 });
	await A.page.waitForFunction(() => document.querySelectorAll("#devices li.online").length === 2, { timeout: 10_000 });
	const sides = await B.page.$$eval(".conflict .side pre", (els) => els.map((x) => x.textContent));
	assert(sides.length === 2 && sides.some((s) => s.includes("bread")) && sides.some((s) => s.includes("coffee")), `sides ${sides}`);
	// the screenshot: two devices side by side, B showing the conflict
	await sleep(300);
	const shots = [await A.page.screenshot({ encoding: "base64" }), await B.page.screenshot({ encoding: "base64" })];
	const sheet = await (await browser.createBrowserContext()).newPage();
	await sheet.setViewport({ width: 1660, height: 930 });
	await sheet.setContent(`<body style="margin:0;background:#e9edf2;font:15px system-ui,sans-serif;display:flex;gap:20px;padding:16px 20px;box-sizing:border-box">
		${shots.map((s, i) => `<figure style="margin:0"><figcaption style="margin:0 0 6px;color:#445">${i ? "Phone" : "Laptop"} (a browser context of its own)</figcaption><img style="border:1px solid #bbc;border-radius:6px;box-shadow:0 2px 8px #0002" width="800" src="data:image/png;base64,${s}"></figure>`).join("")}</body>`);
	const png = await sheet.screenshot({ type: "png" });
	mkdirSync(join(TOP, "build/browser"), { recursive: true });
	writeFileSync(join(TOP, "build/browser/demo.png"), png);
	if (process.env.UPDATE_DEMO_PNG === "1")
		writeFileSync(join(TOP, "docs/demo.png"), png);
	await sheet.close();
	// merge on B with the edit box, both settle
	await B.page.$eval(".conflict textarea", (el) => {
		const v = JSON.parse(el.value);
		v.body = "milk, eggs, bread, coffee";
		el.value = JSON.stringify(v, null, 2);
	});
	await B.page.click(".conflict .merge");
	for (const D of [A, B])
		await D.page.waitForFunction(() => !document.querySelector(".conflict") &&
		    [...document.querySelectorAll(".note .body")].some((x) => x.value === "milk, eggs, bread, coffee"), { timeout: 10_000 });
	// delete on A, gone on B
	await A.page.evaluate(() => {
		const n = [...document.querySelectorAll(".note")].find((x) => x.querySelector(".title").value === "Call Sam");
		n.querySelector(".delete").click();
	});
	await B.page.waitForFunction(() => document.querySelectorAll(".note").length === 1, { timeout: 5000 });
	// the link UI degrades without the server's routes
	const linkText = await A.page.$eval("#link-area", (el) => el.textContent);
	assert(linkText.length > 0, "no link area");
	note(name, `sign-in, live list, add/edit/delete, queued badge, conflict side by side merged, devices online; the screenshot in build/browser/demo.png${process.env.UPDATE_DEMO_PNG === "1" ? " and docs/demo.png" : ""}`);
});

/* ---- run ---- */

let failed = 0;
for (const t of tests) {
	if (!t.groups.includes(group))
		continue;
	if (only.length && !only.includes(t.name))
		continue;
	const started = Date.now();
	try {
		await Promise.race([t.fn(t.name), sleep(90_000).then(() => { throw new Error("took over 90 s"); })]);
		console.log(`ok ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
	} catch (e) {
		if (e instanceof Skip)
			console.log(`skip ${t.name}: ${e.message}`);
		else {
			failed++;
			console.log(`FAIL ${t.name}: ${e.message}`);
		}
	} finally {
		for (const c of contexts.splice(0))
			await c.close().catch(() => {});
	}
}
await browser.close();
rmSync(profile, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
