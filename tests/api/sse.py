#!/usr/bin/env python3
"""An event-stream client for tests/api/test_stream.sh (standard library).

    sse.py BASE TOKEN PATH [--last-event-id N] [--for S] [--blocks N]
           [--stall]

Opens GET PATH with Accept: text/event-stream over HTTP/1.1 and prints
one JSON line per block as it arrives: {"t_ms": ms since the request was
sent, "id", "event", "data", "retry", "comment"} (the fields the block
had), then a last line {"end": "closed"|"timeout"|"blocks", "status",
"content_type", "t_ms"}.  A problem answer prints its body as
{"end": "answer", "status", "body"}.  --for S stops after S seconds,
--blocks N after N blocks; --stall reads the head and then nothing more
(a client that stopped reading), with a small receive buffer.
"""
import argparse
import json
import socket
import ssl
import sys
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("token")
ap.add_argument("path")
ap.add_argument("--last-event-id")
ap.add_argument("--for", dest="for_s", type=float, default=30)
ap.add_argument("--blocks", type=int, default=0)
ap.add_argument("--stall", action="store_true")
a = ap.parse_args()

u = urllib.parse.urlparse(a.base)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection((u.hostname, u.port or 443))
if a.stall:
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s = ctx.wrap_socket(raw, server_hostname=u.hostname)
head = (f"GET {a.path} HTTP/1.1\r\nHost: {u.hostname}\r\n"
        f"Authorization: Bearer {a.token}\r\nAccept: text/event-stream\r\n")
if a.last_event_id is not None:
    head += f"Last-Event-ID: {a.last_event_id}\r\n"
t0 = time.monotonic()
s.sendall((head + "\r\n").encode())
deadline = t0 + a.for_s


def ms():
    return int((time.monotonic() - t0) * 1000)


buf = b""


def fill():
    """More bytes into buf; False at the end or the deadline."""
    global buf
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    s.settimeout(left)
    try:
        d = s.recv(65536)
    except socket.timeout:
        raise TimeoutError
    if not d:
        return False
    buf += d
    return True


def line():
    global buf
    while b"\r\n" not in buf:
        if not fill():
            raise EOFError
    l, _, buf = buf.partition(b"\r\n")
    return l


def out(o):
    print(json.dumps(o), flush=True)


end = "closed"
status, ctype, chunked, length = 0, "", False, None
try:
    status = int(line().split()[1])
    while True:
        h = line()
        if not h:
            break
        k, _, v = h.decode().partition(":")
        k, v = k.strip().lower(), v.strip()
        if k == "content-type":
            ctype = v
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
        elif k == "content-length":
            length = int(v)
    if not ctype.startswith("text/event-stream"):
        body = b""
        if chunked:
            while True:
                n = int(line().split(b";")[0], 16)
                if n == 0:
                    break
                while len(buf) < n + 2:
                    if not fill():
                        raise EOFError
                body, buf = body + buf[:n], buf[n + 2:]
        else:
            while (length is None or len(buf) < length) and fill():
                pass
            body = buf[:length] if length is not None else buf
        out({"end": "answer", "status": status, "content_type": ctype,
             "body": json.loads(body) if body else None})
        sys.exit(0)
    if a.stall:
        while time.monotonic() < deadline:
            time.sleep(0.05)
        raise TimeoutError
    text, nblocks = "", 0
    block = {}
    while True:
        if chunked:
            n = int(line().split(b";")[0], 16)
            if n == 0:
                break
            while len(buf) < n + 2:
                if not fill():
                    raise EOFError
            data, buf = buf[:n], buf[n + 2:]
        else:
            if not buf and not fill():
                break
            data, buf = buf, b""
        text += data.decode()
        while "\n" in text:
            l, _, text = text.partition("\n")
            if l == "":
                if block:
                    block["t_ms"] = ms()
                    out(block)
                    nblocks += 1
                    block = {}
                    if a.blocks and nblocks >= a.blocks:
                        end = "blocks"
                        raise StopIteration
                continue
            if l.startswith(":"):
                block["comment"] = l[1:].strip()
                continue
            k, _, v = l.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "data":
                block["data"] = json.loads(v) if v[:1] in "{[" else v
            elif k == "retry":
                block["retry"] = int(v)
            elif k in ("id", "event"):
                block[k] = v
except TimeoutError:
    end = "timeout"
except EOFError:
    end = "cut"          # the connection ended inside the answer
except StopIteration:
    pass
out({"end": end, "status": status, "content_type": ctype, "t_ms": ms()})
