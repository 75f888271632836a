"""Scaled out beside embedded, same run: what Redis costs a sequential call, and what a second worker buys.

Three gateways run side by side against one fast upstream: one worker with in-memory state, one worker with
Redis, two workers with Redis. Rounds are interleaved (memory, redis-1, redis-2, …; median round) because the
machine is shared. Figures go to bench/out/scale_out.json and to a section of bench/RESULTS.md.

    .venv/bin/python bench/scale_out.py            (run.sh calls it after report.py)
"""

import contextlib
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jwt
import orjson

HERE = Path(__file__).resolve().parent
ROOT, OUT, LUA = HERE.parent, HERE / "out", HERE / "post.lua"
BIN = Path(sys.executable).parent
RESULT = re.compile(r"^BENCH_RESULT (.*)$", re.M)
BEGIN, END = "<!-- scale-out: begin -->", "<!-- scale-out: end -->"
MODES = ("memory-1w", "redis-1w", "redis-2w")
sys.path.insert(0, str(ROOT))
from tests.servers import free_port, stop  # noqa: E402


def wait_port(port, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


@contextlib.contextmanager
def started(cmd, port, env=None, log=None):
    """A server process until the block ends (SIGTERM, then SIGKILL)."""
    with open(OUT / log, "wb") if log else open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_port(port, proc)
            yield proc
        finally:
            stop(proc, 20)


def wrk(url, token, connections, seconds):
    """One wrk run with the chat POST; its figures (raises when any answer was not a 200)."""
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BENCH_TOKEN": token}, check=False)
    with open(OUT / "scale_out-wrk.log", "a") as log:
        log.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    found = RESULT.search(proc.stdout)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout[-300:]}")
    result = orjson.loads(found[1])
    bad = {k: result[k] for k in ("non2xx", "not200", "connect", "read", "write", "timeout") if result[k]}
    if bad:
        raise RuntimeError(f"{url}: {bad} of {result['requests']} requests were not 200")
    result["rps"] = result["requests"] / result["duration_us"] * 1e6
    return result


def measure(urls, token, rounds=3):
    """Interleaved rounds: sequential p50 per mode; 16-connection req/s for the Redis modes."""
    sequential = {mode: [] for mode in MODES}
    loaded = {mode: [] for mode in MODES[1:]}
    via_redis = 0  # gateway calls that went through Redis, to put its command counts per call

    def run(mode, connections, seconds):
        nonlocal via_redis
        result = wrk(urls[mode], token, connections, seconds)
        via_redis += result["requests"] if mode.startswith("redis") else 0
        return result

    for mode in MODES:
        run(mode, 1, 2)  # warm-up: connections, scripts, caches
    for _ in range(rounds):
        for mode in MODES:
            sequential[mode].append(run(mode, 1, 4)["percentiles_us"]["50"] / 1000)
        for mode in MODES[1:]:
            loaded[mode].append(run(mode, 16, 4)["rps"])
    return {
        "requests": via_redis,
        "sequential_p50_ms": {mode: statistics.median(v) for mode, v in sequential.items()},
        "rps_16": {mode: statistics.median(v) for mode, v in loaded.items()},
        "rounds": {"sequential_p50_ms": sequential, "rps_16": loaded},
    }


FLOOR = """
from gevent import monkey; monkey.patch_all()
import statistics, sys, time, redis
client = redis.Redis(port=int(sys.argv[1]))
client.ping()
times = []
for _ in range(3000):
    started = time.perf_counter(); client.ping(); times.append(time.perf_counter() - started)
print(statistics.median(times) * 1000)
"""


def redis_floor(port):
    """p50 ms of a bare PING from a gevent-patched process: one round trip to Redis on this machine, now."""
    out = subprocess.run([str(BIN / "python"), "-c", FLOOR, str(port)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def redis_commands(port):
    """Commands Redis ran per command name (INFO commandstats)."""
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "commandstats"], capture_output=True, text=True)
    return {m[1]: int(m[2]) for m in re.finditer(r"cmdstat_([\w|]+):calls=(\d+)", out.stdout)}


def section(figures):
    seq, rps = figures["sequential_p50_ms"], figures["rps_16"]
    added = seq["redis-1w"] - seq["memory-1w"]
    ratio = rps["redis-2w"] / rps["redis-1w"]
    calls = figures["requests"]
    per_call = {k: round(v / calls, 2) for k, v in sorted(figures["redis_commands"].items()) if v / calls >= 0.01}
    verdict = lambda ok: "**met**" if ok else "**missed**"  # noqa: E731
    added_cell = f"{added:+.3f} ms ({seq['memory-1w']:.3f} → {seq['redis-1w']:.3f})"
    floor = statistics.median(figures["redis_floor_ms"])
    ratio_cell = f"{ratio:.2f} × ({rps['redis-1w']:.0f} → {rps['redis-2w']:.0f} req/s)"
    return f"""{BEGIN}
## Scaled out beside embedded (`bench/scale_out.py`, same machine, interleaved, median of 3 rounds)

| target | figure | verdict |
|---|---|---|
| Redis adds ≤ 0.3 ms per sequential call over memory mode (p50) | {added_cell} | {verdict(added <= 0.3)} |
| 2 workers with Redis at 16 connections ≥ 1.6 × 1 worker with Redis | {ratio_cell} | {verdict(ratio >= 1.6)} |

Sequential p50: memory, 1 worker {seq["memory-1w"]:.3f} ms; Redis, 1 worker {seq["redis-1w"]:.3f} ms; Redis,
2 workers {seq["redis-2w"]:.3f} ms. Redis commands per gateway call (INFO commandstats over {calls:,} calls, the
script's own commands included; one `evalsha` before the upstream call, waited for; after it one `eval` sent behind
`CLIENT REPLY SKIP`, not waited for): {per_call}.
The floor of that one round trip, in the same run: a bare `PING` from a gevent-patched process takes {floor:.3f} ms
(p50; before and after the rounds: {", ".join(f"{v:.3f}" for v in figures["redis_floor_ms"])}), so Redis mode's added
time is {added / floor:.1f} such round trips.
wrk, the upstream, Redis and the gateways share the machine's {os.cpu_count()} CPUs, so a second worker competes
with them for the same cores; load average at the start {figures["load"][0]}, at the end {figures["load"][1]}. Each
Redis round trip wakes redis-server: on a busy machine that wake-up, not Redis's work, is most of its cost.
{END}
"""


def write_results(text):
    path = HERE / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark\n"
    if BEGIN in old:
        old = old[: old.index(BEGIN)] + old[old.index(END) + len(END) + 1 :]
    path.write_text(old.rstrip("\n") + "\n\n" + text)


def main():
    OUT.mkdir(exist_ok=True)
    assert shutil.which("wrk") and shutil.which("redis-server"), "wrk and redis-server are needed (run.sh installs)"
    secret = secrets.token_urlsafe(48)
    token = jwt.encode({"sub": "bench-user", "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
    up_port, redis_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "RATELIMIT_STORAGE_URI", "WEB_CONCURRENCY")},
        "GATEWAY_ENV": "production",
        "OPENROUTER_API_KEY": "sk-or-v1-bench",
        "OPENROUTER_BASE_URL": f"http://127.0.0.1:{up_port}/api/v1",
        "JWT_SECRET_KEY": secret,
        "RATELIMIT_CHAT": "10000000/minute",
        "MAX_CONCURRENT_PER_USER": "1000",
    }
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    modes = {
        "memory-1w": {"WEB_CONCURRENCY": "1"},
        "redis-1w": {"REDIS_URL": redis_url, "WEB_CONCURRENCY": "1"},
        "redis-2w": {"REDIS_URL": redis_url, "WEB_CONCURRENCY": "2"},
    }
    with contextlib.ExitStack() as stack:
        upstream = [str(BIN / "python"), str(HERE / "fast_upstream.py"), "--port", str(up_port)]
        stack.enter_context(started(upstream, up_port))
        redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        stack.enter_context(started(redis, redis_port))
        urls = {}
        for mode, extra in modes.items():
            port = free_port()
            gunicorn = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"]
            stack.enter_context(started(gunicorn, port, {**env, **extra, "BIND": f"127.0.0.1:{port}"}, f"{mode}.log"))
            urls[mode] = f"http://127.0.0.1:{port}/api/v2/openrouter/chat/completions"
        subprocess.run(["redis-cli", "-p", str(redis_port), "config", "resetstat"], capture_output=True, check=True)
        load_start = Path("/proc/loadavg").read_text().split()[0]
        floor_before = redis_floor(redis_port)
        figures = measure(urls, token)
        figures["redis_floor_ms"] = [floor_before, redis_floor(redis_port)]
        figures["load"] = [load_start, Path("/proc/loadavg").read_text().split()[0]]
        figures["redis_commands"] = redis_commands(redis_port)
        stats = figures["redis_commands"]
        stats.pop("info", None)
        stats.pop("config|resetstat", None)
        stats.pop("ping", None)
    (OUT / "scale_out.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    write_results(section(figures))
    print(section(figures))


if __name__ == "__main__":
    main()
