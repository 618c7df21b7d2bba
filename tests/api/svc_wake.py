#!/usr/bin/env python3
"""A backend's key waking a device, for tests/api/test_service.sh.

    svc_wake.py poll BASE DEVICE_TOKEN KEY UID ROUNDS
    svc_wake.py stream BASE DEVICE_TOKEN KEY UID ROUNDS

poll: ROUNDS times, the device holds a long poll (GET /events?after=
CURSOR over a kept-alive HTTPS connection) and, once it waits, the key
publishes an app event (POST /service/users/UID/events over a
connection of its own, opened beforehand): the time from the publish
being sent to the poll's answer arriving is one wake.
stream: the device holds one event stream (Accept: text/event-stream)
and the key publishes ROUNDS events, one at a time; the time from each
publish being sent to its block arriving is one wake.

Prints one JSON line: {"wakes_ms": [...], "p50_ms", "max_ms", "events":
[the event objects the device received]}.  Exit 1 on a protocol error.
Standard library only.
"""
import http.client
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse

MODE, BASE, DEV, KEY, UID, ROUNDS = sys.argv[1:7]
ROUNDS = int(ROUNDS)
url = urllib.parse.urlparse(BASE)
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


def conn():
    c = http.client.HTTPSConnection(url.hostname, url.port, context=CTX,
                                    timeout=30)
    c.connect()
    return c


def request(c, method, path, token, body=None, headers=None):
    h = {"Authorization": "Bearer " + token}
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body)
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    return r.status, r.read()


def publish(c, i):
    st, body = request(c, "POST", "/api/v1/service/users/%s/events" % UID,
                       KEY, {"type": "app.progress", "data": {"i": i}})
    if st != 201:
        sys.exit("publish: %d %s" % (st, body[:200]))


def p50(v):
    s = sorted(v)
    return s[len(s) // 2] if s else None


def polls():
    dev, svc = conn(), conn()
    st, body = request(dev, "GET", "/api/v1/events", DEV)
    cursor = json.loads(body)["cursor"]
    wakes, events = [], []
    for i in range(ROUNDS):
        got = {}

        def poll():
            st, body = request(dev, "GET", "/api/v1/events?after=%d&"
                               "timeout=20" % cursor, DEV)
            got["t"] = time.perf_counter()
            got["status"], got["body"] = st, body
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.2)         # the poll waits by now
        t0 = time.perf_counter()
        publish(svc, i)
        t.join()
        if got["status"] != 200:
            sys.exit("poll: %d %s" % (got["status"], got["body"][:200]))
        page = json.loads(got["body"])
        if not page["events"]:
            sys.exit("poll: answered without the event")
        events += page["events"]
        cursor = page["cursor"]
        wakes.append((got["t"] - t0) * 1000)
    return wakes, events


def stream():
    raw = socket.create_connection((url.hostname, url.port), timeout=30)
    s = CTX.wrap_socket(raw, server_hostname=url.hostname)
    s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n"
               "\r\n" % (url.netloc, DEV)).encode())
    f = s.makefile("rb")
    status = f.readline()
    if b" 200 " not in status:
        sys.exit("stream: %r" % status)
    chunked = False
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        if h.lower().startswith(b"transfer-encoding:") and b"chunked" in h:
            chunked = True
    arrived, events = {}, []

    def reader():
        text = b""
        while len(arrived) < ROUNDS:
            if chunked:
                size = f.readline()
                if not size:
                    return
                n = int(size.split(b";")[0], 16)
                if n == 0:
                    return
                data = f.read(n + 2)[:n]
            else:
                data = f.read1(65536)
                if not data:
                    return
            text += data
            while b"\n" in text:
                line, _, text = text.partition(b"\n")
                if line.startswith(b"data: "):
                    e = json.loads(line[6:])
                    events.append(e)
                    if isinstance(e.get("data"), dict) and "i" in e["data"]:
                        arrived[e["data"]["i"]] = time.perf_counter()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)             # the stream is parked by now
    svc, sent = conn(), {}
    for i in range(ROUNDS):
        sent[i] = time.perf_counter()
        publish(svc, i)
        deadline = time.time() + 10
        while i not in arrived and time.time() < deadline:
            time.sleep(0.001)
    t.join(5)
    if len(arrived) != ROUNDS:
        sys.exit("stream: %d of %d events arrived" % (len(arrived), ROUNDS))
    return [(arrived[i] - sent[i]) * 1000 for i in range(ROUNDS)], events


wakes, events = polls() if MODE == "poll" else stream()
print(json.dumps({"wakes_ms": [round(w, 2) for w in wakes],
                  "p50_ms": round(p50(wakes), 2),
                  "max_ms": round(max(wakes), 2), "events": events}))
