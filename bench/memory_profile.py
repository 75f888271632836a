"""Where a gateway worker's memory per call in flight goes: tracemalloc in one gevent worker, idle and then
holding `--calls` chat calls against an upstream that answers after 3 s, the difference grouped by who allocated.

Starts its own gateway (bench/gunicorn_tracemalloc.py) against bench/fast_upstream.py; warms it with 2,000 fast
calls at 16 connections first, as the capacity phase does. Prints Markdown (bench/run.sh adds it to PROFILE.md).
"""

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import orjson
from measure import OUT, Runner, mint_token, rss_mb, workers_of

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v2/openrouter/chat/completions"
# Who allocated a block, by the file of the Python line running at the time: first match wins.
OWNERS = (
    (
        "a waiting greenlet: its saved C stack, I/O watcher and timer (greenlet, gevent)",
        lambda f: f.endswith("core/readiness.py"),
    ),
    ("gunicorn: the parsed request, WSGI environ, response", lambda f: "/gunicorn/" in f),
    ("gevent: the connection's greenlet, socket, timeouts", lambda f: "/gevent/" in f),
    ("Flask + Werkzeug: contexts, request, g", lambda f: "/flask/" in f or "/werkzeug/" in f),
    ("flask-limiter + limits: the rate-limit check", lambda f: "/flask_limiter/" in f or "/limits/" in f),
    (
        "requests + urllib3 + http.client: the upstream request and connection",
        lambda f: "/requests/" in f or "/urllib3/" in f or f.endswith("http/client.py"),
    ),
    ("the gateway's own code", lambda f: f.startswith(str(ROOT)) and "/.venv/" not in f),
    ("other (standard library, orjson, …)", lambda f: True),
)


def owner(filename):
    return next(name for name, matches in OWNERS if matches(filename))


def request(token, content):
    body = orjson.dumps({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]})
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def status_of(sock):
    """The status of one answer on `sock` (the head is enough: the caller closes the socket next)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return int(data.split(b" ", 2)[1])


def snapshot(directory, count):
    (directory / "snapshot").touch()
    path = directory / f"snapshot-{count}"
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the worker wrote no tracemalloc snapshot")
        time.sleep(0.05)
    return tracemalloc.Snapshot.load(str(path)), orjson.loads(Path(f"{path}.json").read_bytes())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def profile(gateway, master, token, calls, directory):
    """(per-owner bytes per call, traced bytes per call, RSS per call) for `calls` calls held in flight."""
    Runner({"gateway": gateway + PATH}, token).until("gateway", 16, 2000)
    time.sleep(0.5)
    worker = workers_of(master)[0]
    (before, _), idle = snapshot(directory, 0), rss_mb(worker)
    host, port = gateway.split("//")[1].split(":")
    socks = [socket.create_connection((host, int(port))) for _ in range(calls)]
    slow = request(token, "delay=3000")
    for sock in socks:
        sock.sendall(slow)
    time.sleep(1.5)  # every call is waiting on the upstream by now
    peak = rss_mb(worker)
    during, frames = snapshot(directory, 1)
    statuses = collections.Counter(status_of(sock) for sock in socks)
    for sock in socks:
        sock.close()
    if statuses != {200: calls}:
        raise RuntimeError(f"the calls held in flight answered {dict(statuses)}")
    owners = collections.Counter()
    for stat in during.compare_to(before, "filename"):
        owners[owner(stat.traceback[0].filename)] += stat.size_diff / calls
    return owners, sum(owners.values()), (peak - idle) * 1e6 / calls, frames["deepest_frames_bytes"]


def markdown(owners, traced, rss, frames, calls):
    kb = lambda b: f"{b / 1000:.1f} KB"  # noqa: E731
    lines = [
        f"## Memory per call in flight ({calls} chat calls waiting on the upstream; `bench/memory_profile.py`)",
        "",
        "tracemalloc in one gevent worker, idle and then holding the calls; what the calls added, by who allocated",
        "it (the Python line running at the time).",
        "",
        "| allocated by | per call |",
        "|---|---|",
    ]
    lines += [f"| {name} | {kb(size)} |" for name, size in owners.most_common()]
    lines += [
        f"| **traced in all** | **{kb(traced)}** |",
        "",
        f"RSS per call in flight in this run: {kb(rss)} (with tracemalloc's own bookkeeping; the capacity phase",
        "measures it untraced). What tracemalloc does not see: each greenlet's Python frames, which CPython 3.11",
        "keeps in a 16 KB chunk of their own (greenlet 3 swaps it per greenlet), resident a 4 KB page at a time;",
        f"a waiting call's frames take {kb(frames)} (the deepest waiting greenlet's, estimated from its code",
        "objects), and its stack goes deeper still while urllib3 opens a connection. And the allocator's own slack.",
    ]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True, help="base URL of bench/fast_upstream.py")
    parser.add_argument("--calls", type=int, default=256)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gateway-tracemalloc-") as directory:
        env = {**os.environ, "BIND": f"127.0.0.1:{port}", "BENCH_TRACEMALLOC_DIR": directory}
        env["OPENROUTER_BASE_URL"] = f"{args.upstream}/api/v1"
        with open(OUT / "gateway-tracemalloc.log", "w") as log:
            gunicorn = Path(sys.executable).parent / "gunicorn"
            master = subprocess.Popen(
                [str(gunicorn), "-c", "bench/gunicorn_tracemalloc.py"], cwd=ROOT, env=env, stderr=log
            )
        try:
            gateway = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or master.poll() is not None:
                        raise RuntimeError("the traced gateway did not start") from None
                    time.sleep(0.1)
            token = mint_token(os.environ["JWT_SECRET_KEY"])
            owners, traced, rss, frames = profile(gateway, master.pid, token, args.calls, Path(directory))
        finally:
            master.terminate()
            master.wait(timeout=30)
    print("\n".join(markdown(owners, traced, rss, frames, args.calls)))


if __name__ == "__main__":
    main()
