#!/usr/bin/env python3
"""Many HTTPS long polls at once, for tests/api/test_parked.sh.

    polls.py BASE TOKENS_FILE POLLS_PER_TOKEN RUN_S WRITES_FILE

Each line of TOKENS_FILE is "user access_token" (several devices per
user).  Every token keeps POLLS_PER_TOKEN chains of long polls open
(GET /events?after=CURSOR&timeout=25 over one kept-alive HTTP/1.1
connection each, re-polling from the cursor each answer gives) for RUN_S
seconds after all are waiting, then the chains run until they reach the
head each user reports at the end.  Meanwhile the script, through one
more connection per user, pushes records (WRITES_FILE gets one line per
acknowledged push).  At the end it checks, for every chain: seqs strictly
increasing (each event once, in order) and, together, exactly 1..head of
its user (none lost).  Prints one JSON line of figures; exit 0 when every
check held.  Standard library only.
"""
import asyncio
import json
import ssl
import sys
import time
import urllib.parse

BASE = sys.argv[1]
TOKENS = [l.split() for l in open(sys.argv[2]) if l.strip()]
PER = int(sys.argv[3])
RUN_S = float(sys.argv[4])
WRITES = sys.argv[5]
url = urllib.parse.urlparse(BASE)
HOST, PORT = url.hostname, url.port or 443
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE

stats = {"polls": 0, "answers": 0, "events": 0, "errors": {}, "waiting_peak": 0}


async def read_response(r):
    """Status and body of one HTTP/1.1 answer (Content-Length or chunked)."""
    line = await r.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    length, chunked = None, False
    while True:
        h = await r.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode().partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v)
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            n = int((await r.readline()).strip(), 16)
            if n == 0:
                await r.readline()
                break
            body += await r.readexactly(n)
            await r.readline()
    else:
        body = await r.readexactly(length or 0)
    return status, body


async def request(r, w, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    w.write(head.encode() + data)
    await w.drain()
    return await read_response(r)


async def connect():
    for _ in range(50):
        try:
            return await asyncio.open_connection(HOST, PORT, ssl=CTX)
        except OSError:
            await asyncio.sleep(0.2)
    raise ConnectionError("cannot connect")


def error(kind):
    stats["errors"][kind] = stats["errors"].get(kind, 0) + 1


async def chain(user, token, start, seen, stop, heads, waiting):
    """One chain of polls; seen collects the seqs it got, in order."""
    cursor = start
    r, w = await connect()
    try:
        while True:
            if stop.is_set() and user in heads and cursor >= heads[user]:
                return
            waiting[0] += 1
            stats["waiting_peak"] = max(stats["waiting_peak"], waiting[0])
            t = 25 if not stop.is_set() else 2
            try:
                status, body = await request(
                    r, w, "GET", f"/api/v1/events?after={cursor}&timeout={t}", token)
            finally:
                waiting[0] -= 1
            stats["polls"] += 1
            if status != 200:
                error(f"status {status}")
                await asyncio.sleep(0.5)
                continue
            doc = json.loads(body)
            stats["answers"] += 1
            for e in doc["events"]:
                seen.append(e["seq"])
                stats["events"] += 1
            cursor = doc["cursor"]
    except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
        error(type(e).__name__)
    finally:
        w.close()


async def writer(user, token, stop, acked):
    r, w = await connect()
    n = 0
    while not stop.is_set():
        n += 1
        status, body = await request(r, w, "POST", "/api/v1/sync/push", token, {
            "changes": [{"collection": "p", "id": f"{user}-{n}", "base_version": 0,
                         "data": {"n": n}}]})
        if status == 200:
            acked.append((user, json.loads(body)["results"][0]["version"]))
        else:
            error(f"push {status}")
        await asyncio.sleep(0.05)
    w.close()


async def main():
    users = {}
    for user, token in TOKENS:
        users.setdefault(user, []).append(token)
    # every user's head now: each chain starts there
    heads0 = {}
    for user, toks in users.items():
        r, w = await connect()
        status, body = await request(r, w, "GET", "/api/v1/events", toks[0])
        heads0[user] = json.loads(body)["cursor"]
        w.close()
    stop = asyncio.Event()
    heads, waiting, acked = {}, [0], []
    chains = []
    for user, toks in users.items():
        for t in toks:
            for _ in range(PER):
                seen = []
                chains.append((user, seen, asyncio.create_task(
                    chain(user, t, heads0[user], seen, stop, heads, waiting))))
    want = len(chains)
    t0 = time.time()
    while waiting[0] < want and time.time() - t0 < 120:
        await asyncio.sleep(0.2)
    stats["waiting_at_start"] = waiting[0]
    writers = [asyncio.create_task(writer(u, toks[0], stop, acked))
               for u, toks in users.items()]
    await asyncio.sleep(RUN_S)
    stop.set()
    await asyncio.gather(*writers)
    for user, toks in users.items():
        r, w = await connect()
        status, body = await request(r, w, "GET", "/api/v1/events", toks[0])
        heads[user] = json.loads(body)["cursor"]
        w.close()
    await asyncio.wait([c[2] for c in chains], timeout=60)
    bad = {"out_of_order": 0, "doubled": 0, "lost": 0}
    for user, seen, task in chains:
        if any(b <= a for a, b in zip(seen, seen[1:])):
            bad["out_of_order"] += 1
        if len(set(seen)) != len(seen):
            bad["doubled"] += 1
        if set(seen) != set(range(heads0[user] + 1, heads[user] + 1)):
            bad["lost"] += 1
    with open(WRITES, "w") as f:
        for user, v in acked:
            f.write(f"{user} {v}\n")
    stats.update(bad)
    stats["chains"] = want
    stats["pushes"] = len(acked)
    print(json.dumps(stats))
    ok = (stats["waiting_at_start"] == want and not any(bad.values())
          and not stats["errors"])
    return 0 if ok else 1


sys.exit(asyncio.run(main()))
