#!/usr/bin/env python3
"""Soak test driver for tandem (Python 3 standard library only).

`make soak` runs it through bench/soak.sh against one fresh stack.  For
--minutes it drives mixed load from many devices:

  logins and token refreshes; pushes to a small shared set of records per
  user, half with strategy manual and half merge, from devices whose view
  is often stale, so that conflicts are stored and merges are made; pulls;
  messages into a few sessions per user; long polls that come and go, a
  share of them abandoned mid-wait by closing the connection; and a
  `kill -9` of one tandemd worker process every --kill-every seconds.

Every --sample-s (60) it samples tandemd's total resident memory and open
file descriptors (/proc), the p99 latency of each request type over the
interval, the 5xx answers by status (those within --kill-window seconds
after a kill are counted apart: they are expected), and the waiting polls
the server counts against those this client holds.

It keeps a ledger of every acknowledged write: each push result written
(applied or merged, with its version), each conflict stored, each 201
message.  At the end it pulls every user's records from 0, reads every
stored conflict and lists every session's messages, and counts as lost
whatever the ledger has that the server does not.

Prints a table per --table-every minutes and a verdict: RSS and fds within
10 % of their value at the end of warm-up, p99 stable (the last interval
within 1.5x the first after warm-up, + 5 ms), no 5xx outside the kill
windows, none but 502/503 inside them, 0 lost writes.  Exit status 0 when
the verdict holds.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from longpoll import Conn, HttpError, tls_context, procs_under  # noqa: E402

PASSWORD = "soak-password-123"
KINDS = ["login", "refresh", "push", "pull", "message", "poll"]
P99_KINDS = ["login", "refresh", "push", "pull", "message"]
NET_ERRORS = (OSError, HttpError, asyncio.IncompleteReadError, ssl.SSLError,
              ValueError, IndexError)


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


class Interval:
    """What happened in one sample interval."""

    def __init__(self):
        self.lat = {k: [] for k in KINDS}
        self.count = {k: 0 for k in KINDS}
        self.fivexx = []        # (time, status, kind)
        self.neterr = 0
        self.abandoned = 0
        self.conflicts = 0
        self.merged = 0


class Soak:
    def __init__(self, a):
        self.a = a
        self.ctx = tls_context()
        self.stop = False
        self.cur = Interval()
        self.samples = []       # dicts, one per interval
        self.kills = []         # monotonic times
        self.kill_log = []
        self.ledger_push = []   # (user index, collection, id, version)
        self.ledger_conflict = []   # (user index, conflict id)
        self.ledger_msg = []    # (user index, session id, message id, seq)
        self.polls_in_flight = 0
        self.waiting_after = None
        self.t0 = time.monotonic()
        self.users = []
        self.devices = []

    # ---- bookkeeping ----
    def record(self, kind, ms, status):
        c = self.cur
        c.count[kind] += 1
        if kind != "poll" and status < 500:
            c.lat[kind].append(ms)
        if status >= 500:
            c.fivexx.append((time.monotonic(), status, kind))

    def near_kill(self, t):
        return any(k - 1.0 <= t <= k + self.a.kill_window for k in self.kills)

    # ---- /proc ----
    def tandemd_pids(self):
        return procs_under(self.a.stack_pid, "tandemd")

    def workers(self):
        """Worker processes: the tandemd children of the master with more
        than one thread (the sweeper has one)."""
        out = []
        for p in self.tandemd_pids():
            try:
                with open("/proc/%d/status" % p) as f:
                    st = f.read()
            except OSError:
                continue
            fields = dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
            ppid = int(fields.get("PPid", "0"))
            threads = int(fields.get("Threads", "1"))
            if ppid in self.tandemd_pids() and threads > 1:
                out.append(p)
        return out

    def rss_fds(self):
        """(RSS KiB of all tandemd processes, of those that live on:
        the master and the sweeper, open fds of all)."""
        rss = fds = stay = 0
        workers = set(self.workers())
        for p in self.tandemd_pids():
            try:
                with open("/proc/%d/status" % p) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            kib = int(line.split()[1])
                            rss += kib
                            if p not in workers:
                                stay += kib
                fds += len(os.listdir("/proc/%d/fd" % p))
            except OSError:
                pass
        return rss, stay, fds

    async def server_waiting(self):
        conn = Conn(self.a.base, self.ctx)
        try:
            status, raw, _ = await asyncio.wait_for(
                conn.request("GET", "/metrics"), 5)
        except (asyncio.TimeoutError,) + NET_ERRORS:
            return None
        finally:
            conn.close()
        if status != 200:
            return None
        for line in raw.decode().splitlines():
            if line.startswith("tandem_longpoll_waiting "):
                return int(float(line.split()[1]))
        return None

    # ---- tasks ----
    async def killer(self):
        # mid-interval, so a kill's 502s fall in the row that counts it
        first = self.a.kill_every - min(self.a.sample_s, self.a.kill_every) / 2
        wait = first
        while not self.stop:
            await self.sleep(wait)
            wait = self.a.kill_every
            if self.stop:
                return
            ws = self.workers()
            if not ws:
                continue
            pid = random.choice(ws)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            t = time.monotonic()
            self.kills.append(t)
            # how long until the master has as many workers again
            n = len(ws)
            back = None
            for _ in range(100):
                await asyncio.sleep(0.1)
                if len([p for p in self.workers() if p != pid]) >= n:
                    back = time.monotonic() - t
                    break
            self.kill_log.append((t - self.t0, pid, back))
            print("  %6.1f s: kill -9 worker %d, a new one after %s" % (
                t - self.t0, pid, "%.1f s" % back if back else "-"),
                flush=True)

    async def sleep(self, s):
        end = time.monotonic() + s
        while not self.stop and time.monotonic() < end:
            await asyncio.sleep(min(0.5, end - time.monotonic()))

    async def sampler(self):
        n = 0
        while not self.stop:
            await self.sleep(self.a.sample_s)
            n += 1
            minute = n * self.a.sample_s / 60.0
            rss, stay, fds = self.rss_fds()
            srv = await self.server_waiting()
            cur, self.cur = self.cur, Interval()
            s = {"minute": minute, "rss": rss, "stay": stay, "fds": fds,
                 "srv_wait": srv, "cli_wait": self.polls_in_flight,
                 "iv": cur, "workers": len(self.workers())}
            self.samples.append(s)
            print(sample_line(self, s), flush=True)
            if n * self.a.sample_s >= self.a.minutes * 60 - 0.5:
                self.stop = True

    async def poller(self):
        """Long polls that come and go on their own connections."""
        while not self.stop:
            d = random.choice(self.devices)
            if d.access is None:
                await asyncio.sleep(0.2)
                continue
            conn = Conn(self.a.base, self.ctx)
            timeout = random.randint(1, 20)
            # Most polls filter on a session nobody writes to, so they
            # really wait (the users' own writes come every few ms).
            quiet = random.random() < self.a.quiet
            path = "/api/v1/events?after=%d&timeout=%d%s" % (
                d.ev_cursor, timeout, "&session_id=quiet" if quiet else "")
            self.polls_in_flight += quiet
            try:
                if random.random() < self.a.abandon:
                    # send the poll, then walk away mid-wait
                    await conn.connect()
                    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: "
                           "Bearer %s\r\n\r\n" % (path, conn.hosthdr,
                                                  d.access))
                    conn.w.write(req.encode())
                    await conn.w.drain()
                    await asyncio.sleep(random.uniform(0.2, 3.0))
                    self.cur.abandoned += 1
                else:
                    t0 = time.perf_counter()
                    status, raw, t = await conn.request("GET", path,
                                                        token=d.access)
                    self.record("poll", (t - t0) * 1000, status)
                    if status == 200:
                        d.ev_cursor = json.loads(raw)["cursor"]
                    elif status == 401:
                        await d.login()
            except NET_ERRORS:
                self.cur.neterr += 1
            finally:
                self.polls_in_flight -= quiet
                conn.close()
            await asyncio.sleep(random.uniform(0.05, 0.5))


class Device:
    def __init__(self, soak, ui, di):
        self.s = soak
        self.ui = ui
        self.u = soak.users[ui]
        self.id = "dev%d" % di
        self.conn = Conn(soak.a.base, soak.ctx)
        self.access = None
        self.refresh_token = None
        self.view = {}          # record id -> (version, data)
        self.cursor = 0         # pull cursor
        self.ev_cursor = 0
        self.n = 0

    async def req(self, kind, method, path, body=None, auth=True,
                  patient=False):
        """(status, document) or (None, None) on a network error.  A
        patient request (the verification) waits out 429s."""
        for _ in range(30 if patient else 1):
            st, doc = await self.req_once(kind, method, path, body, auth)
            if st != 429:
                break
            await asyncio.sleep(1.0)
        return st, doc

    async def req_once(self, kind, method, path, body, auth):
        t0 = time.perf_counter()
        try:
            status, raw, t = await self.conn.request(
                method, path, body, self.access if auth else None)
        except NET_ERRORS:
            self.s.cur.neterr += 1
            self.conn.close()
            return None, None
        self.s.record(kind, (t - t0) * 1000, status)
        doc = None
        if raw[:1] in (b"{", b"["):
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
        if status == 401 and auth and kind != "refresh":
            await self.login()
        return status, doc

    async def login(self):
        st, doc = await self.req("login", "POST", "/api/v1/auth/login", {
            "email": self.u["email"], "password": PASSWORD,
            "device": {"id": self.id, "platform": "soak", "name": self.id}},
            auth=False)
        if st == 200:
            self.access = doc["access_token"]
            self.refresh_token = doc["refresh_token"]
        return st

    async def refresh(self):
        st, doc = await self.req("refresh", "POST", "/api/v1/auth/refresh",
                                 {"refresh_token": self.refresh_token},
                                 auth=False)
        if st == 200:
            self.access = doc["access_token"]
            self.refresh_token = doc["refresh_token"]
        elif st is not None and st in (401, 403):
            # spent (an answer lost to a kill) or revoked: log in again
            await self.login()

    async def push(self):
        strategy = random.choice(["manual", "merge"])
        changes = []
        for rid in random.sample(self.u["records"], random.randint(1, 3)):
            base, data = self.view.get(rid, (0, {}))
            self.n += 1
            data = dict(data)
            data[self.id] = self.n     # each device changes its own field
            if random.random() < 0.3:
                data["shared"] = "%s-%d" % (self.id, self.n)
            changes.append({"collection": "soak", "id": rid,
                            "base_version": base, "data": data})
        st, doc = await self.req("push", "POST", "/api/v1/sync/push",
                                 {"changes": changes, "strategy": strategy})
        if st != 200 or doc is None:
            return
        for ch, r in zip(changes, doc["results"]):
            rid = r["id"]
            if r["status"] in ("applied", "merged"):
                self.s.ledger_push.append((self.ui, "soak", rid,
                                           r["version"]))
                data = (r.get("server") or {}).get("data", ch["data"])
                self.view[rid] = (r["version"], data)
                if r["status"] == "merged":
                    self.s.cur.merged += 1
            elif r["status"] == "conflict":
                self.s.ledger_conflict.append((self.ui, r["conflict_id"]))
                self.s.cur.conflicts += 1
                srv = r.get("server") or {}
                if "version" in srv:
                    self.view[rid] = (srv["version"], srv.get("data") or {})

    async def pull(self):
        st, doc = await self.req("pull", "GET",
                                 "/api/v1/sync/pull?since=%d&limit=500"
                                 % self.cursor)
        if st == 200:
            for ch in doc["changes"]:
                if not ch["deleted"]:
                    self.view[ch["id"]] = (ch["version"], ch["data"])
            self.cursor = doc["cursor"]
        elif st == 410:
            self.cursor = 0

    async def message(self):
        sid = random.choice(self.u["sessions"])
        self.n += 1
        cmid = "%s-%d-%d" % (self.id, self.n, random.randint(0, 1 << 30))
        st, doc = await self.req("message", "POST",
                                 "/api/v1/sessions/%s/messages" % sid,
                                 {"client_msg_id": cmid,
                                  "body": {"text": "soak", "from": self.id,
                                           "n": self.n, "c": cmid}})
        if st == 201:
            m = doc["message"]
            self.s.ledger_msg.append((self.ui, sid, m["id"], m["seq"]))

    async def run(self):
        acts = [(self.push, 30), (self.pull, 25), (self.message, 25),
                (self.refresh, 5), (self.login, 1)]
        fns = [f for f, _ in acts]
        weights = [w for _, w in acts]
        while not self.s.stop:
            if self.access is None:
                await self.login()
                if self.access is None:
                    await asyncio.sleep(0.5)
                    continue
            fn = random.choices(fns, weights)[0]
            try:
                await fn()
            except (KeyError, TypeError) as e:
                print("soak: unexpected answer in %s: %r" % (fn.__name__, e),
                      file=sys.stderr)
            await asyncio.sleep(random.uniform(0.05, self.s.a.think_s))
        self.conn.close()


def fmt_ms(x):
    return "-" if x != x else ("%.0f" % x if x >= 10 else "%.1f" % x)


def split_5xx(s, events):
    near = {}
    far = {}
    for t, st, kind in events:
        d = near if s.near_kill(t) else far
        d[st] = d.get(st, 0) + 1
    return near, far


def fmt_counts(d):
    return ",".join("%d:%d" % kv for kv in sorted(d.items())) or "0"


def sample_line(s, smp):
    iv = smp["iv"]
    near, far = split_5xx(s, iv.fivexx)
    return ("  min %5.1f  RSS %6.1f MB (master+sweeper %.1f)  fds %4d  "
            "waiting srv %s / cli %d  "
            "p99 ms %s  req %d  5xx near kill %s other %s  neterr %d" % (
                smp["minute"], smp["rss"] / 1024.0, smp["stay"] / 1024.0,
                smp["fds"],
                smp["srv_wait"], smp["cli_wait"],
                " ".join("%s=%s" % (k, fmt_ms(pct(iv.lat[k], 0.99)))
                         for k in P99_KINDS),
                sum(iv.count.values()), fmt_counts(near), fmt_counts(far),
                iv.neterr))


async def setup(s):
    a = s.a
    tag = "%d" % int(time.time())
    s.users = [{"email": "soak%d-%s@bench.test" % (i, tag),
                "records": ["r%d" % k for k in range(a.records)],
                "sessions": ["s%d" % k for k in range(a.sessions)]}
               for i in range(a.users)]
    conn = Conn(a.base, s.ctx)
    for u in s.users:
        st, raw, _ = await conn.request("POST", "/api/v1/auth/register",
                                        {"email": u["email"],
                                         "password": PASSWORD})
        if st != 201:
            raise SystemExit("soak: register: %d %s" % (st, raw[:200]))
    conn.close()
    s.devices = [Device(s, ui, di) for ui in range(a.users)
                 for di in range(a.devices)]
    await asyncio.gather(*[d.login() for d in s.devices])
    if any(d.access is None for d in s.devices):
        raise SystemExit("soak: some logins failed")
    for ui in range(a.users):
        d = s.devices[ui * a.devices]
        for sid in s.users[ui]["sessions"]:
            st, _ = await d.req("message", "POST", "/api/v1/sessions",
                                {"id": sid, "title": sid})
            if st not in (200, 201):
                raise SystemExit("soak: session %s: %s" % (sid, st))
        st, doc = await d.req("poll", "GET", "/api/v1/events")
        for k in range(a.devices):
            s.devices[ui * a.devices + k].ev_cursor = doc["cursor"]


async def verify(s):
    """Every acknowledged write, read back.  Returns (lost pushes, lost
    conflicts, lost messages, detail lines)."""
    a = s.a
    lost_p = lost_c = lost_m = 0
    detail = []
    for ui in range(a.users):
        d = s.devices[ui * a.devices]
        d.conn.close()
        for _ in range(3):
            if await d.login() == 200:
                break
            await asyncio.sleep(1)
        recs = {}
        since = 0
        while True:
            st, doc = await d.req("pull", "GET", "/api/v1/sync/pull?since=%d"
                                  "&limit=1000" % since, patient=True)
            if st != 200:
                raise SystemExit("soak: verify pull: %s" % st)
            for ch in doc["changes"]:
                recs[(ch["collection"], ch["id"])] = ch["version"]
            since = doc["cursor"]
            if not doc["more"]:
                break
        for (u2, coll, rid, ver) in s.ledger_push:
            if u2 == ui and recs.get((coll, rid), -1) < ver:
                lost_p += 1
                if len(detail) < 10:
                    detail.append("push %s/%s v%d of user %d: server has %s"
                                  % (coll, rid, ver, ui, recs.get((coll, rid))))
        for (u2, cid) in s.ledger_conflict:
            if u2 != ui:
                continue
            st, doc = await d.req("pull", "GET", "/api/v1/conflicts/%d" % cid,
                                  patient=True)
            if st != 200:
                lost_c += 1
                if len(detail) < 10:
                    detail.append("conflict %d of user %d: %s" % (cid, ui, st))
        for sid in s.users[ui]["sessions"]:
            have = {}
            after = 0
            while True:
                st, doc = await d.req("pull", "GET",
                                      "/api/v1/sessions/%s/messages?after=%d"
                                      "&limit=500" % (sid, after),
                                      patient=True)
                if st != 200:
                    raise SystemExit("soak: verify messages: %s" % st)
                for m in doc["messages"]:
                    have[m["id"]] = m["seq"]
                after = doc["next_after"]
                if not doc["more"]:
                    break
            for (u2, sid2, mid, seq) in s.ledger_msg:
                if u2 == ui and sid2 == sid and have.get(mid) != seq:
                    lost_m += 1
                    if len(detail) < 10:
                        detail.append("message %s seq %d in %s: %s" % (
                            mid, seq, sid, have.get(mid)))
        d.conn.close()
    return lost_p, lost_c, lost_m, detail


def table(s, every):
    """Rows per `every` minutes: the last sample's RSS and fds, p99 over
    the block, 5xx near kills and elsewhere."""
    lines = []
    hdr = ("| minute | RSS MB | master+sweeper MB | fds | "
           "waiting srv/cli | " +
           " | ".join("p99 %s ms" % k for k in P99_KINDS) +
           " | requests | 5xx near kills | 5xx other | kills |")
    lines.append(hdr)
    lines.append("|" + "---:|" * (hdr.count("|") - 1))
    for i in range(0, len(s.samples), every):
        blk = s.samples[i:i + every]
        last = blk[-1]
        lat = {k: [] for k in P99_KINDS}
        ev = []
        n = 0
        for b in blk:
            for k in P99_KINDS:
                lat[k] += b["iv"].lat[k]
            ev += b["iv"].fivexx
            n += sum(b["iv"].count.values())
        near, far = split_5xx(s, ev)
        hi = last["minute"] * 60
        lo = hi - len(blk) * s.a.sample_s
        kills = sum(1 for (t, _, _) in s.kill_log if lo <= t < hi)
        lines.append("| %g | %.1f | %.1f | %d | %s/%d | %s | %d | %s | %s | "
                     "%d |" % (
            last["minute"], last["rss"] / 1024.0, last["stay"] / 1024.0,
            last["fds"],
            last["srv_wait"], last["cli_wait"],
            " | ".join(fmt_ms(pct(lat[k], 0.99)) for k in P99_KINDS), n,
            fmt_counts(near), fmt_counts(far), kills))
    return lines


def verdict(s, lost, warm):
    """[(what, ok, detail)]"""
    out = []
    smp = s.samples
    if len(smp) <= warm:
        return [("enough samples after warm-up", False,
                 "%d samples, warm-up %d" % (len(smp), warm))]
    w, e = smp[warm - 1], smp[-1]
    for key, name in (("rss", "RSS"), ("fds", "open fds")):
        g = (e[key] - w[key]) / float(w[key]) if w[key] else 0
        out.append(("%s flat after warm-up (<= 10 %% growth)" % name,
                    g <= 0.10, "%d at minute %g -> %d at minute %g (%+.1f %%)"
                    % (w[key], w["minute"], e[key], e["minute"], 100 * g)))
    first, last = smp[warm], smp[-1]
    bad = []
    for k in P99_KINDS:
        p0 = pct(first["iv"].lat[k], 0.99)
        p1 = pct(last["iv"].lat[k], 0.99)
        if p0 == p0 and p1 == p1 and p1 > 1.5 * p0 + 5:
            bad.append("%s %s -> %s ms" % (k, fmt_ms(p0), fmt_ms(p1)))
    out.append(("p99 stable (last interval <= 1.5x the first after "
                "warm-up + 5 ms)", not bad, "; ".join(bad) or "each type"))
    ev = [x for b in smp for x in b["iv"].fivexx]
    near, far = split_5xx(s, ev)
    odd_near = {k: v for k, v in near.items() if k not in (502, 503)}
    out.append(("no 5xx outside the kill windows", not far, fmt_counts(far)))
    out.append(("only 502/503 around kills", not odd_near,
                "near kills: %s" % fmt_counts(near)))
    out.append(("the server counts no waiting poll once the load is gone",
                s.waiting_after == 0, "tandem_longpoll_waiting %s after "
                "the load (%d kills)" % (s.waiting_after, len(s.kills))))
    lp, lc, lm, detail = lost
    out.append(("no acknowledged write lost", lp + lc + lm == 0,
                "%d pushes (%d versions), %d conflicts, %d messages checked; "
                "lost %d / %d / %d%s" % (
                    len({(u, r) for u, _, r, _ in s.ledger_push}),
                    len(s.ledger_push), len(s.ledger_conflict),
                    len(s.ledger_msg), lp, lc, lm,
                    ("; " + "; ".join(detail)) if detail else "")))
    return out


async def main_async(a):
    s = Soak(a)
    print("soak: %d users x %d devices, %d pollers, %g min, kill -9 of a "
          "worker every %g s" % (a.users, a.devices, a.pollers, a.minutes,
                                 a.kill_every), flush=True)
    await setup(s)
    rss, _, fds = s.rss_fds()
    print("  start: RSS %.1f MB, fds %d, workers %s" % (
        rss / 1024.0, fds, s.workers()), flush=True)
    s.t0 = time.monotonic()     # kills and samples count from here
    tasks = [asyncio.ensure_future(d.run()) for d in s.devices]
    tasks += [asyncio.ensure_future(s.poller()) for _ in range(a.pollers)]
    if a.kill_every > 0:
        tasks.append(asyncio.ensure_future(s.killer()))
    await s.sampler()
    s.stop = True
    done, pending = await asyncio.wait(tasks, timeout=25)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await asyncio.sleep(2)
    lost = await verify(s)
    # every poll of this client is gone: the server should count none
    await asyncio.sleep(3)
    s.waiting_after = await s.server_waiting()
    every = a.table_every or (5 if a.minutes >= 15 else 1)
    warm = a.warmup or (5 if a.minutes >= 15 else 1)
    lines = ["## Soak: %g minutes, kill -9 of a worker every %g s" % (
        a.minutes, a.kill_every), "",
        "%d users x %d devices, %d pollers (%d %% abandoned mid-wait), "
        "sampled every %g s; p99 per request type over each block; 5xx "
        "'near kills' are those within %g s after a kill." % (
            a.users, a.devices, a.pollers, int(a.abandon * 100),
            a.sample_s, a.kill_window), ""]
    lines += table(s, every)
    lines.append("")
    lines.append("Kills: " + (", ".join(
        "%.0f s (pid %d, back in %s)" % (t, p, "%.1f s" % b if b else "-")
        for t, p, b in s.kill_log) or "none"))
    tot = Interval()
    for b in s.samples:
        tot.conflicts += b["iv"].conflicts
        tot.merged += b["iv"].merged
        tot.abandoned += b["iv"].abandoned
        tot.neterr += b["iv"].neterr
        for k in KINDS:
            tot.count[k] += b["iv"].count[k]
    lines.append("Requests: " + ", ".join("%s %d" % (k, tot.count[k])
                                          for k in KINDS) +
                 "; conflicts stored %d, merges %d, polls abandoned %d, "
                 "network errors %d." % (tot.conflicts, tot.merged,
                                         tot.abandoned, tot.neterr))
    lines.append("")
    checks = verdict(s, lost, warm)
    ok = all(c[1] for c in checks)
    for what, good, det in checks:
        lines.append("- %s %s: %s" % ("ok  " if good else "FAIL", what, det))
    lines.append("")
    lines.append("verdict: %s" % ("PASS" if ok else "FAIL"))
    text = "\n".join(lines)
    print()
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--stack-pid", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--kill-every", type=float, default=300)
    ap.add_argument("--kill-window", type=float, default=10)
    ap.add_argument("--sample-s", type=float, default=60)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--pollers", type=int, default=24)
    ap.add_argument("--abandon", type=float, default=0.3)
    ap.add_argument("--quiet", type=float, default=0.7,
                    help="share of polls on a session nobody writes to")
    ap.add_argument("--records", type=int, default=12)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--think-s", type=float, default=0.4)
    ap.add_argument("--table-every", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    sys.exit(asyncio.run(main_async(a)))


if __name__ == "__main__":
    main()
