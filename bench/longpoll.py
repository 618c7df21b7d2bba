#!/usr/bin/env python3
"""Long-poll load generator for tandem (Python 3 standard library only).

Raw HTTP/1.1 over TLS with asyncio, one connection per waiting poll, as a
device would hold it.  Two modes:

  bench   N users x M devices wait on GET /api/v1/events; measures idle
          CPU and resident memory of tandemd while they wait, targeted
          wake (one device pushes; time from the push's response to each
          of that user's polls answering) and fan-out (every user pushes
          at once; time until the last poll answers; none lost or
          doubled).  Prints a table and writes it as Markdown.
  order   N x M polls wait while pushes run (with small pages, so bursts
          span several polls); every poll must receive every event of its
          user exactly once and in order.  Exits non-zero otherwise (used
          by tests/api/test_events_load.sh).

Each user also logs in one more device, "pusher", which writes the
events (POST /api/v1/events, type app.*) and does not poll, so all M
polling devices of the user are woken by each push; the stack must allow
M + 1 devices per user (TANDEM_MAX_DEVICES).
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
import urllib.parse

PASSWORD = "bench-password-123"


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection over TLS."""

    def __init__(self, base, ctx):
        u = urllib.parse.urlsplit(base)
        self.host = u.hostname
        self.port = u.port or 443
        self.hosthdr = u.netloc
        self.ctx = ctx
        self.r = None
        self.w = None
        self.headers = {}       # the last response's, lower-case names

    async def connect(self):
        self.r, self.w = await asyncio.open_connection(
            self.host, self.port, ssl=self.ctx,
            server_hostname=self.host)

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None

    async def request(self, method, path, body=None, token=None,
                      retry=True, headers=None):
        """Returns (status, body bytes, time the body was complete)."""
        if self.w is None:
            await self.connect()
        data = b"" if body is None else json.dumps(body).encode()
        head = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path,
                                                   self.hosthdr)
        if token:
            head += "Authorization: Bearer %s\r\n" % token
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += "Content-Length: %d\r\n\r\n" % len(data)
        try:
            self.w.write(head.encode() + data)
            return await self._response()
        except (ConnectionError, asyncio.IncompleteReadError, HttpError):
            self.close()
            if not retry or method != "GET":
                raise
            return await self.request(method, path, body, token, False,
                                      headers)

    async def _response(self):
        line = await self.r.readline()
        if not line:
            raise HttpError("connection closed")
        parts = line.split(None, 2)
        status = int(parts[1])
        length = None
        chunked = False
        close = False
        self.headers = {}
        while True:
            h = await self.r.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            name = name.strip().lower()
            value = value.strip()
            self.headers[name] = value
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            out = bytearray()
            while True:
                size = int((await self.r.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await self.r.readline()) not in (b"\r\n", b""):
                        pass
                    break
                out += await self.r.readexactly(size + 2)
                del out[-2:]
            body = bytes(out)
        elif length is not None:
            body = await self.r.readexactly(length)
        else:
            body = await self.r.read()
            close = True
        t = time.perf_counter()
        if close:
            self.close()
        return status, body, t


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def call(conn, method, path, body=None, token=None, want=None):
    status, raw, t = await conn.request(method, path, body, token)
    if want is not None and status != want:
        raise HttpError("%s %s: %d %s" % (method, path, status,
                                          raw[:300].decode("utf-8", "replace")))
    return json.loads(raw) if raw else None, t


async def setup(base, ctx, nusers, ndev, tag, concurrency=8):
    """Register nusers users and log in ndev devices plus "pusher" each.
    Returns [{email, tokens:[...], pusher, cursor}] in user order."""
    users = [{"email": "lp%d-%s@bench.test" % (i, tag), "tokens": [None] * ndev}
             for i in range(nusers)]
    jobs = asyncio.Queue()
    for u in users:
        jobs.put_nowait(("register", u, None))

    async def worker():
        conn = Conn(base, ctx)
        try:
            while True:
                try:
                    kind, u, d = jobs.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if kind == "register":
                    await call(conn, "POST", "/api/v1/auth/register",
                               {"email": u["email"], "password": PASSWORD},
                               want=201)
                    for i in range(ndev):
                        jobs.put_nowait(("login", u, i))
                    jobs.put_nowait(("login", u, "pusher"))
                    continue
                dev = "pusher" if d == "pusher" else "dev%d" % d
                doc, _ = await call(conn, "POST", "/api/v1/auth/login", {
                    "email": u["email"], "password": PASSWORD,
                    "device": {"id": dev, "platform": "bench", "name": dev}},
                    want=200)
                if d == "pusher":
                    u["pusher"] = doc["access_token"]
                else:
                    u["tokens"][d] = doc["access_token"]
        finally:
            conn.close()

    # Registration queues the logins: keep workers alive until all done.
    while not jobs.empty():
        await asyncio.gather(*[worker() for _ in range(concurrency)])
    conn = Conn(base, ctx)
    for u in users:
        doc, _ = await call(conn, "GET", "/api/v1/events", token=u["pusher"],
                            want=200)
        u["cursor"] = doc["cursor"]
    conn.close()
    return users


class Poller:
    """One device's poll loop: GET /events, record, poll again."""

    def __init__(self, base, ctx, uidx, didx, token, cursor, tracker,
                 limit=1000, exclude_self=1):
        self.conn = Conn(base, ctx)
        self.uidx = uidx
        self.didx = didx
        self.token = token
        self.cursor = cursor
        self.tracker = tracker
        self.limit = limit
        self.exclude_self = exclude_self
        self.seqs = []
        self.errors = []
        self.polls = 0
        self.gate = None        # an asyncio.Event to await before polling

    def next_request(self):
        """(path, extra headers) of the next poll."""
        return ("/api/v1/events?after=%d&timeout=55&limit=%d"
                "&exclude_self=%d" % (self.cursor, self.limit,
                                      self.exclude_self)), None

    def answered(self, status, raw, t):
        """Record one answer; False when it was an error."""
        if status != 200:
            return False
        doc = json.loads(raw)
        for e in doc["events"]:
            self.seqs.append(e["seq"])
            self.tracker.got(self.uidx, self.didx, e["seq"], t)
        self.cursor = doc["cursor"]
        return True

    async def run(self):
        try:
            while True:
                if self.gate is not None:
                    await self.gate.wait()
                path, headers = self.next_request()
                try:
                    status, raw, t = await self.conn.request(
                        "GET", path, token=self.token, headers=headers)
                except (OSError, HttpError,
                        asyncio.IncompleteReadError) as e:
                    self.errors.append(repr(e))
                    await asyncio.sleep(0.1)
                    continue
                self.polls += 1
                if not self.answered(status, raw, t):
                    self.errors.append("%d %s" % (status, raw[:200]))
                    await asyncio.sleep(0.1)
        finally:
            self.conn.close()


class NchanPoller(Poller):
    """The same device loop against nchan's long-poll subscriber: one
    message per answer, the next one asked for by the previous answer's
    Last-Modified and Etag; the body is the JSON the publisher sent."""

    def __init__(self, base, ctx, uidx, didx, tracker):
        super().__init__(base, ctx, uidx, didx, None, 0, tracker)
        self.since = None

    def next_request(self):
        return "/sub/u%d" % self.uidx, self.since

    def answered(self, status, raw, t):
        if status in (304, 408):        # the subscriber timeout passed
            return True
        if status != 200:
            return False
        seq = json.loads(raw)["seq"]
        self.seqs.append(seq)
        self.tracker.got(self.uidx, self.didx, seq, t)
        h = self.conn.headers
        self.since = {"If-Modified-Since": h.get("last-modified", ""),
                      "If-None-Match": h.get("etag", "")}
        return True


class Tracker:
    """Who received which seq when; futures for "all devices have it"."""

    def __init__(self, ndev):
        self.ndev = ndev
        self.seen = {}          # (user, seq) -> {device: [times]}
        self.waits = {}         # (user, seq) -> future

    def got(self, u, d, seq, t):
        k = (u, seq)
        self.seen.setdefault(k, {}).setdefault(d, []).append(t)
        f = self.waits.get(k)
        if f is not None and not f.done() and len(self.seen[k]) == self.ndev:
            f.set_result(None)

    async def all_of(self, u, seq, timeout):
        k = (u, seq)
        if len(self.seen.get(k, {})) == self.ndev:
            return True
        f = asyncio.get_running_loop().create_future()
        self.waits[k] = f
        try:
            await asyncio.wait_for(f, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self.waits.pop(k, None)

    def times(self, u, seq):
        return self.seen.get((u, seq), {})


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[i]


def procs_under(stack_pid, name="tandemd"):
    """Processes called name under stack_pid (tandemd: master, workers,
    sweeper; nginx: master and workers)."""
    kids = {}
    comm = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        comm[int(p)] = s[s.index("(") + 1:s.rindex(")")]
        kids.setdefault(int(rest[1]), []).append(int(p))
    out = []
    todo = [stack_pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            todo.append(c)
            if comm.get(c) == name:
                out.append(c)
    return sorted(out)


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        total += int(rest[11]) + int(rest[12])     # utime + stime
    return total


def cpu_by_pid(pids):
    out = {}
    for p in pids:
        out[p] = cpu_ticks([p])
    return out


def threads_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def stack_rss(pids):
    """(threads, average resident KiB) of the worker threads' stacks: the
    anonymous read-write mappings of the one size most of them share."""
    sizes = {}
    for p in pids:
        cur = None
        try:
            with open("/proc/%d/smaps" % p) as f:
                for line in f:
                    fs = line.split()
                    if not fs[0].endswith(":") and "-" in fs[0]:
                        a, b = fs[0].split("-")
                        anon = len(fs) < 6 and fs[1] == "rw-p"
                        cur = (int(b, 16) - int(a, 16)) if anon else None
                        if cur is not None:
                            sizes.setdefault(cur, [0, 0])[0] += 1
                    elif fs[0] == "Rss:" and cur is not None:
                        sizes[cur][1] += int(fs[1])
        except OSError:
            continue
    if not sizes:
        return 0, 0.0
    n, kib = max(sizes.values())
    return n, kib / float(n)


async def waiting_count(base, ctx):
    """tandem_longpoll_waiting from /metrics (loopback), or None."""
    conn = Conn(base, ctx)
    try:
        status, raw, _ = await conn.request("GET", "/metrics")
    except (OSError, HttpError):
        return None
    finally:
        conn.close()
    if status != 200:
        return None
    for line in raw.decode().splitlines():
        if line.startswith("tandem_longpoll_waiting"):
            return int(float(line.split()[-1]))
    return None


async def settle(base, ctx, want, timeout=20.0):
    """Wait until the server counts `want` waiting polls (or, without
    /metrics, a fixed pause).  Returns the last count seen, or None."""
    t_end = time.monotonic() + timeout
    n = None
    while time.monotonic() < t_end:
        n = await waiting_count(base, ctx)
        if n is None:
            await asyncio.sleep(2.0)
            return None
        if n >= want:
            return n
        await asyncio.sleep(0.2)
    return n


async def start_polls(base, ctx, users, ndev, tracker, limit_of=None,
                      exclude_self=1, batch=100, make=None):
    """Start ndev polls per user (make(user index, device) builds each,
    tandem's Poller by default).  Returns (pollers, tasks)."""
    pollers = []
    tasks = []
    for ui, u in enumerate(users):
        for d in range(ndev):
            if make is not None:
                p = make(ui, d)
            else:
                p = Poller(base, ctx, ui, d, u["tokens"][d], u["cursor"],
                           tracker, limit_of(d) if limit_of else 1000,
                           exclude_self)
            pollers.append(p)
    # connect in batches so the TLS handshakes do not all queue at once
    for i in range(0, len(pollers), batch):
        await asyncio.gather(*[p.conn.connect()
                               for p in pollers[i:i + batch]])
    for p in pollers:
        tasks.append(asyncio.ensure_future(p.run()))
    return pollers, tasks


async def push(conn, u, kind, n):
    """POST one app event as u's pusher.  Returns (seq, time of the
    response, time the request was sent)."""
    t0 = time.perf_counter()
    doc, t = await call(conn, "POST", "/api/v1/events",
                        {"type": kind, "data": {"n": n}},
                        token=u["pusher"], want=201)
    return doc["event"]["seq"], t, t0


def check_delivery(pollers, users, pushed):
    """pushed: {user index: [seqs]}.  Returns (lost, doubled, disorder)."""
    lost = doubled = disorder = 0
    for p in pollers:
        got = p.seqs
        for a, b in zip(got, got[1:]):
            if b <= a:
                disorder += 1
        counts = {}
        for s in got:
            counts[s] = counts.get(s, 0) + 1
        for s in pushed.get(p.uidx, []):
            c = counts.get(s, 0)
            if c == 0:
                lost += 1
            elif c > 1:
                doubled += c - 1
    return lost, doubled, disorder


class TandemSide:
    """tandem: users log in devices that poll GET /api/v1/events; a
    pusher device per user POSTs app events."""

    name = "tandem"

    def __init__(self, a, ctx):
        self.a = a
        self.ctx = ctx
        self.base = a.base
        self.users = []
        self.pids = []

    async def setup(self):
        a = self.a
        tag = "%d" % int(time.time() * 1000)
        self.users = await setup(self.base, self.ctx, a.users, a.devices,
                                 tag)
        self.pids = procs_under(a.stack_pid) if a.stack_pid else []

    def poller(self, ui, d, tracker):
        u = self.users[ui]
        return Poller(self.base, self.ctx, ui, d, u["tokens"][d],
                      u["cursor"], tracker)

    async def push(self, conn, ui, kind, n):
        return await push(conn, self.users[ui], kind, n)

    async def settle(self, want, timeout=20.0):
        return await settle(self.base, self.ctx, want, timeout)


class NchanSide:
    """nchan in the same nginx and TLS: channel uI per user, its devices
    long-poll /sub/uI, the user's pushes POST /pub/uI; the message carries
    the per-user seq the tracker counts by."""

    name = "nchan"

    def __init__(self, a, ctx):
        self.a = a
        self.ctx = ctx
        self.base = a.nchan
        self.users = [{"seq": 0} for _ in range(a.users)]
        self.pids = []

    async def setup(self):
        if self.a.nchan_pid:
            self.pids = procs_under(self.a.nchan_pid, "nginx")

    def poller(self, ui, d, tracker):
        return NchanPoller(self.base, self.ctx, ui, d, tracker)

    async def push(self, conn, ui, kind, n):
        self.users[ui]["seq"] += 1
        seq = self.users[ui]["seq"]
        t0 = time.perf_counter()
        status, raw, t = await conn.request(
            "POST", "/pub/u%d" % ui, {"seq": seq, "type": kind,
                                      "data": {"n": n}})
        if status not in (201, 202):
            raise HttpError("publish: %d %s" % (status, raw[:200]))
        return seq, t, t0

    async def settle(self, want, timeout=20.0):
        """Wait until nchan's stub status counts want subscribers."""
        t_end = time.monotonic() + timeout
        n = None
        while time.monotonic() < t_end:
            conn = Conn(self.base, self.ctx)
            try:
                status, raw, _ = await conn.request("GET", "/nchan_status")
            finally:
                conn.close()
            for line in raw.decode().splitlines():
                if line.startswith("subscribers:"):
                    n = int(line.split()[1])
            if n is not None and n >= want:
                return n
            await asyncio.sleep(0.2)
        return n


async def run_side(a, ctx, side):
    """Wait, targeted wake and fan-out against one side.  Returns a dict
    of what was measured."""
    t0 = time.monotonic()
    print("[%s] setting up %d users x %d devices..." %
          (side.name, a.users, a.devices), flush=True)
    await side.setup()
    print("  %.1f s" % (time.monotonic() - t0), flush=True)
    users = side.users
    pids = side.pids
    nwait = a.users * a.devices
    tracker = Tracker(a.devices)
    pushers = [Conn(side.base, ctx) for _ in users]
    await asyncio.gather(*[c.connect() for c in pushers])

    await asyncio.sleep(2.0)
    rss_idle = rss_kib(pids)
    print("[%s] starting %d polls..." % (side.name, nwait), flush=True)
    pollers, tasks = await start_polls(
        side.base, ctx, users, a.devices, tracker,
        make=lambda ui, d: side.poller(ui, d, tracker))
    n = await side.settle(nwait)
    print("  the server counts %s waiting" % n, flush=True)
    await asyncio.sleep(1.0)
    rss_wait = rss_kib(pids)
    nstacks, stack_kib = stack_rss(pids) if side.name == "tandem" else (0, 0)
    c0 = cpu_by_pid(pids)
    w0 = time.monotonic()
    await asyncio.sleep(a.idle_s)
    c1 = cpu_by_pid(pids)
    w1 = time.monotonic()
    tck = os.sysconf("SC_CLK_TCK")
    idle = (sum(c1.values()) - sum(c0.values())) * 1000.0 / tck / (w1 - w0)
    for p in pids:
        print("  pid %d (%d threads): %.1f ms/s" % (
            p, threads_of(p), (c1[p] - c0[p]) * 1000.0 / tck / (w1 - w0)))

    # targeted wake
    print("[%s] targeted wake: %d pushes..." % (side.name, a.pushes),
          flush=True)
    pushed = {}
    lat = []
    lat_send = []
    missing = 0
    for k in range(a.pushes):
        ui = (k * 37) % len(users)
        seq, t_resp, t_send = await side.push(pushers[ui], ui, "app.ping", k)
        pushed.setdefault(ui, []).append(seq)
        if not await tracker.all_of(ui, seq, 5.0):
            missing += 1
        for d, ts in tracker.times(ui, seq).items():
            lat.append((ts[0] - t_resp) * 1000.0)
            lat_send.append((ts[0] - t_send) * 1000.0)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    n = await side.settle(nwait, 10.0)

    # fan-out, a few rounds.  The answered polls poll again only once all
    # have answered: one Python process plays 1,000 devices, and its
    # re-polls would otherwise queue in front of the answers it is timing.
    fan = []
    pushes_ms = []
    ok = []
    answered = 0
    for rnd in range(a.rounds):
        print("[%s] fan-out %d: %d users push at once..." %
              (side.name, rnd + 1, len(users)), flush=True)
        gate = asyncio.Event()
        for p in pollers:
            p.gate = gate
        f0 = time.perf_counter()
        res = await asyncio.gather(*[side.push(pushers[i], i, "app.fanout",
                                               rnd)
                                     for i in range(len(users))])
        ok += await asyncio.gather(*[tracker.all_of(i, s, 10.0)
                                     for i, (s, _, _) in enumerate(res)])
        last = f0
        answered = 0
        for i, (s, _, _) in enumerate(res):
            pushed.setdefault(i, []).append(s)
            for d, ts in tracker.times(i, s).items():
                answered += 1
                last = max(last, ts[0])
        fan.append((last - f0) * 1000.0)
        pushes_ms.append((max(t for _, t, _ in res) - f0) * 1000.0)
        gate.set()
        await asyncio.sleep(0.3)
        await side.settle(nwait, 10.0)
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)

    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in pushers:
        c.close()
    lost, doubled, disorder = check_delivery(pollers, users, pushed)
    return {
        "nwait": nwait, "server_waiting": n, "lat": lat,
        "lat_send": lat_send, "missing": missing, "fan": fan,
        "pushes_ms": pushes_ms, "answered": answered, "ok": all(ok),
        "lost": lost, "doubled": doubled, "disorder": disorder,
        "errors": sum(len(p.errors) for p in pollers), "idle": idle,
        "rss_idle": rss_idle, "rss_wait": rss_wait, "nstacks": nstacks,
        "stack_kib": stack_kib, "pushes": len(users),
    }


def side_rows(a, m):
    nwait = m["nwait"]
    lat, lat_send, fan = m["lat"], m["lat_send"], m["fan"]
    per_poll = (m["rss_wait"] - m["rss_idle"]) / float(nwait)
    return [
        ("waiting polls", "%d (server: %s)" % (nwait, m["server_waiting"]),
         "1,000"),
        ("targeted wake p50", "%.2f ms" % pct(lat, 0.50), "<= 2 ms"),
        ("targeted wake p99", "%.2f ms" % pct(lat, 0.99), "<= 10 ms"),
        ("targeted wake max", "%.2f ms" % (max(lat) if lat else 0), ""),
        ("send -> wake p50 / p99 (from sending the push)", "%.2f / %.2f ms"
         % (pct(lat_send, 0.5), pct(lat_send, 0.99)), ""),
        ("targeted wakes measured", "%d (%d pushes, %d incomplete)" %
         (len(lat), a.pushes, m["missing"]), ""),
        ("fan-out: last of %d answered, median of %d rounds" %
         (m["answered"], len(fan)), "%.1f ms" % pct(fan, 0.5), "<= 250 ms"),
        ("fan-out: each round", " / ".join("%.0f" % x for x in fan) + " ms",
         ""),
        ("fan-out: last of %d pushes answered, median" % m["pushes"],
         "%.1f ms" % pct(m["pushes_ms"], 0.5), ""),
        ("lost / doubled / out of order", "%d / %d / %d" %
         (m["lost"], m["doubled"], m["disorder"]), "0 / 0 / 0"),
        ("poll errors", "%d" % m["errors"], "0"),
        ("idle CPU, %d waiting (%.0f s)" % (nwait, a.idle_s),
         "%.1f ms/s (%.2f %% of a core)" % (m["idle"], m["idle"] / 10.0),
         "~ 0"),
        ("tandemd RSS idle / waiting", "%d / %d KiB" % (m["rss_idle"],
                                                        m["rss_wait"]), ""),
        ("RSS per waiting poll: added by waiting", "%.1f KiB" % per_poll,
         "<= 64 KiB"),
        ("thread stacks resident, average of %d" % m["nstacks"],
         "%.1f KiB" % m["stack_kib"], ""),
        ("RSS per waiting poll: added + its thread's stack",
         "%.1f KiB" % (per_poll + m["stack_kib"]), "<= 64 KiB"),
    ]


def compare_rows(t, n):
    """tandem against nchan, as DESIGN.md's targets compare them."""
    def ratio(x, y):
        return "%.2f" % (x / y) if y > 0 else "-"
    ts, ns = pct(t["lat_send"], 0.5), pct(n["lat_send"], 0.5)
    tf, nf = pct(t["fan"], 0.5), pct(n["fan"], 0.5)
    return [
        ("send -> wake p50", "%.2f ms" % ts, "%.2f ms" % ns,
         "%s×" % ratio(ts, ns), "<= 2×"),
        ("send -> wake p99", "%.2f ms" % pct(t["lat_send"], 0.99),
         "%.2f ms" % pct(n["lat_send"], 0.99),
         "%s×" % ratio(pct(t["lat_send"], 0.99), pct(n["lat_send"], 0.99)),
         ""),
        ("fan-out, median of %d rounds" % len(t["fan"]), "%.1f ms" % tf,
         "%.1f ms" % nf, "%s×" % ratio(tf, nf), "<= 2×"),
        ("fan-out rounds", " / ".join("%.0f" % x for x in t["fan"]),
         " / ".join("%.0f" % x for x in n["fan"]), "", ""),
        ("lost / doubled / out of order", "%d / %d / %d" % (
            t["lost"], t["doubled"], t["disorder"]), "%d / %d / %d" % (
            n["lost"], n["doubled"], n["disorder"]), "", "0"),
        ("idle CPU (ms/s)", "%.1f" % t["idle"], "%.1f" % n["idle"], "", ""),
        ("RSS added per waiting poll", "%.1f KiB" % (
            (t["rss_wait"] - t["rss_idle"]) / float(t["nwait"])),
         "%.1f KiB" % ((n["rss_wait"] - n["rss_idle"]) / float(n["nwait"])),
         "", ""),
    ]


async def bench(a):
    ctx = tls_context()
    t = await run_side(a, ctx, TandemSide(a, ctx))
    n = await run_side(a, ctx, NchanSide(a, ctx)) if a.nchan else None
    rows = side_rows(a, t)
    w = max(len(r[0]) for r in rows)
    print()
    for r in rows:
        print("%-*s  %-34s %s" % (w, r[0], r[1], r[2]))
    cmp = compare_rows(t, n) if n else []
    if cmp:
        print("\nside by side with nchan (tandem / nchan / ratio / target):")
        for r in cmp:
            print("%-*s  %-14s %-14s %-7s %s" % ((w,) + r))
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            f.write("# Long-poll benchmark\n\n")
            f.write("`bench/longpoll.sh` on %s, %s; %d users x %d devices "
                    "waiting, %s.\n\n" % (
                        os.uname().nodename,
                        time.strftime("%Y-%m-%d %H:%M:%S"), a.users,
                        a.devices, a.config))
            f.write("| measure | result | target |\n|---|---|---|\n")
            for r in rows:
                f.write("| %s | %s | %s |\n" % r)
            if cmp:
                f.write("\nSide by side with nchan (Debian's "
                        "libnginx-mod-nchan) in the same nginx and TLS, "
                        "one channel per user, the same client and "
                        "load, run right after:\n\n")
                f.write("| measure | tandem | nchan | tandem / nchan | "
                        "target |\n|---|---|---|---|---|\n")
                for r in cmp:
                    f.write("| %s | %s | %s | %s | %s |\n" % r)
        print("\nwritten to %s" % a.out)
    bad = False
    for m in [t] + ([n] if n else []):
        bad = bad or m["lost"] or m["doubled"] or m["disorder"] or \
            m["missing"] or not m["ok"]
    return 1 if bad else 0


async def order(a):
    """200 polls (by default) get every event exactly once and in order
    while pushes run; odd devices use pages of 2 events."""
    ctx = tls_context()
    tag = "o%d" % int(time.time() * 1000)
    users = await setup(a.base, ctx, a.users, a.devices, tag)
    tracker = Tracker(a.devices)
    pollers, tasks = await start_polls(
        a.base, ctx, users, a.devices, tracker,
        limit_of=lambda d: 2 if d % 2 else 1000,
        exclude_self=1)
    await settle(a.base, ctx, a.users * a.devices)
    pushers = [Conn(a.base, ctx) for _ in users]
    pushed = {}

    async def pusher(i):
        for k in range(a.pushes):
            seq, _, _ = await push(pushers[i], users[i], "app.seq", k)
            pushed.setdefault(i, []).append(seq)
            # bursts of 1..3 back to back, then a short pause
            if k % 3 == i % 3:
                await asyncio.sleep(0.005 * (1 + (k + i) % 4))

    await asyncio.gather(*[pusher(i) for i in range(len(users))])
    ok = await asyncio.gather(*[tracker.all_of(i, seqs[-1], 15.0)
                                for i, seqs in pushed.items()])
    await asyncio.sleep(0.3)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    # every event of the user up to the last push, as the log has them
    full = {}
    conn = Conn(a.base, ctx)
    for i, u in enumerate(users):
        doc, _ = await call(conn, "GET", "/api/v1/events?after=%d&timeout=0"
                            "&limit=1000" % u["cursor"], token=u["pusher"],
                            want=200)
        full[i] = [e["seq"] for e in doc["events"]
                   if e["seq"] <= pushed[i][-1]]
    conn.close()
    for c in pushers:
        c.close()
    lost, doubled, disorder = check_delivery(pollers, users, full)
    extra = sum(1 for p in pollers for s in p.seqs
                if s <= pushed[p.uidx][-1] and s not in set(full[p.uidx]))
    errors = [e for p in pollers for e in p.errors]
    polls = sum(p.polls for p in pollers)
    summary = {"polls_waiting": len(pollers), "pushes": sum(
        len(v) for v in pushed.values()), "poll_requests": polls,
        "lost": lost, "doubled": doubled, "out_of_order": disorder,
        "unexpected": extra, "errors": len(errors),
        "all_delivered": all(ok)}
    print(json.dumps(summary))
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    good = (not lost and not doubled and not disorder and not extra and
            not errors and all(ok))
    return 0 if good else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["bench", "order"])
    ap.add_argument("--base", required=True, help="https://127.0.0.1:PORT")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--pushes", type=int, default=100)
    ap.add_argument("--idle-s", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=5,
                    help="fan-out rounds")
    ap.add_argument("--stack-pid", type=int, default=0,
                    help="measure the tandemd processes under this pid")
    ap.add_argument("--nchan", default="",
                    help="also run against nchan at this https://HOST:PORT")
    ap.add_argument("--nchan-pid", type=int, default=0,
                    help="measure the nginx processes under this pid")
    ap.add_argument("--out", default="")
    ap.add_argument("--config", default="default configuration")
    a = ap.parse_args()
    fn = bench if a.mode == "bench" else order
    sys.exit(asyncio.run(fn(a)))


if __name__ == "__main__":
    main()
