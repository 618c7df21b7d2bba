#!/usr/bin/env python3
"""Cross-host wake latency (issue 15): a long poll on one host answered by
a write through another.

    python3 bench/xhost_wake.py BASE POLLER_TOKEN WRITER_TOKEN [N]

The two tokens are devices of one user whose requests the nginx upstream
sends to different hosts (it hashes on the Authorization header).  Each
round: the poller's GET /events waits (keep-alive connection A), then
the writer POSTs an app event (connection B); the latency is from just
before the POST is sent to the poll's answer.  Prints "p50 max min" in
ms over N rounds (default 15), or "FAIL ..." and exits 1.
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def main():
    base, poller, writer = sys.argv[1], sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    u = urllib.parse.urlparse(base)
    ctx = ssl._create_unverified_context()

    def conn():
        return http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                           timeout=30)

    def req(c, method, path, tok, body=None):
        h = {"Authorization": "Bearer " + tok}
        if body is not None:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")

    a, b = conn(), conn()
    _, head = req(a, "GET", "/api/v1/events", poller)
    cursor = head["cursor"]
    lat = []
    for i in range(rounds):
        got = {}

        def poll():
            got["r"] = req(a, "GET", "/api/v1/events?after=%d&timeout=20"
                           % cursor, poller)
            got["t"] = time.perf_counter()

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.25)
        t0 = time.perf_counter()
        st, _ = req(b, "POST", "/api/v1/events", writer,
                    json.dumps({"type": "app.ping", "data": {"i": i}}))
        t.join()
        st2, page = got["r"]
        if st != 201 or st2 != 200 or not page["events"]:
            print("FAIL", st, st2, page)
            sys.exit(1)
        cursor = page["cursor"]
        lat.append((got["t"] - t0) * 1000)
    lat.sort()
    print("%.1f %.1f %.1f" % (lat[len(lat) // 2], lat[-1], lat[0]))


main()
