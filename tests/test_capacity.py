"""One gevent worker under hostile and heavy load, over real sockets: no caller stalls another.

The stand-in runs in its own process here, so its 20 ms spacing does not depend on this process's GIL.
"""

import base64
import contextlib
import itertools
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import orjson
import pytest
import requests

from tests.conftest import MOCK_KEY, live_auth, live_env
from tests.servers import ROOT, free_port, run_gunicorn, run_redis, wait_http

SECRET = "capacity-test-secret-" + "0" * 32
API = "/api/v2/openrouter"
INTERVAL_MS = 20


@pytest.fixture(scope="module")
def stand_in():
    port = free_port()
    # Niced, like the heavy callers below: on these 2 cores, the process measured is the gateway.
    cmd = ["nice", "-n", "10", sys.executable, "-m", "openrouter_mock", "--port", str(port), "--api-key", MOCK_KEY]
    cmd += ["--max-records", "20"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_http(url + "/models", proc=proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def gateway_env(stand_in, **extra):
    limits = {f"RATELIMIT_{name}": "10000/minute" for name in ("CHAT", "STREAMING", "AUDIO", "FUNCTION_CALLING")}
    return live_env(stand_in, SECRET, LOG_LEVEL="WARNING", **{**limits, **extra})


@pytest.fixture(scope="module")
def gateway_log(tmp_path_factory):
    return tmp_path_factory.mktemp("capacity") / "gunicorn.log"


@pytest.fixture(scope="module")
def gateway(stand_in, gateway_log):
    # gevent's monitor thread reports, in the log, any greenlet that holds the worker's loop for over 100 ms.
    monitor = {"GEVENT_MONITOR_THREAD_ENABLE": "true", "GEVENT_MAX_BLOCKING_TIME": "0.1"}
    with run_gunicorn(gateway_env(stand_in, **monitor), log_path=gateway_log) as (base, proc):
        yield base


def auth(sub):
    return live_auth(sub, SECRET)


def wav_base64(size):
    return base64.b64encode(b"RIFF" + b"\0\0\0\0" + b"WAVE" + os.urandom(size - 12)).decode()


def test_heavy_audio_conversation_and_calculation_do_not_stall_an_open_stream(gateway, gateway_log, stand_in):
    requests.post(f"{stand_in.removesuffix('/api/v1')}/_mock/reset", timeout=5)
    # The heavy calls and the stream each come from a process of their own, as from other machines; the
    # heavy caller and the stand-in run niced, so that on these 2 cores the process measured is the gateway.
    probe = [sys.executable, "-m", "tests.heavy_load"]
    pipes = {"cwd": ROOT, "stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    loader = subprocess.Popen(["nice", "-n", "15", *probe, "heavy", gateway, SECRET], **pipes)
    assert loader.stdout.readline() == b"ready\n"
    reader = subprocess.Popen([*probe, "stream", gateway, SECRET, "400"], **pipes)
    assert reader.stdout.readline() == b"open\n"
    loader.stdin.write(b"go\n")
    loader.stdin.flush()
    heavy = orjson.loads(loader.communicate(timeout=60)[0])
    streamed = orjson.loads(reader.communicate(timeout=60)[0])
    arrivals = streamed["arrivals"]
    assert streamed["done"]
    assert heavy["finished"] < arrivals[-1]  # all the heavy calls ran while the stream was open
    assert [heavy["audio"], heavy["chat"], heavy["calc"], heavy["calc_tool"]] == [[200, 200]] * 3 + ["calculate"]
    sent = sent_times(stand_in, "[[chunks:400]]")
    assert len(sent) == len(arrivals)
    # How much later than its best each event arrived: what the gateway added beyond the stand-in's spacing.
    lags = [arrived - left for arrived, left in zip(arrivals, sent, strict=True)]
    # The gaps between events beyond the stand-in's own gaps (the issue's measure), and the drift of every event
    # from the best one (the 20 MB JSON parse and encoding, each ~20 ms, with a turn for the others between
    # them; before the slicing, the same load delayed events by 400-1,000 ms).
    worst_gap = max(later - earlier for earlier, later in itertools.pairwise(lags))
    extra = max(lags) - min(lags)
    # The issue's 100 ms is asserted inside the gateway: gevent's monitor reports any greenlet that held the
    # worker's loop that long. Seen from outside, the worst gap is 15-35 ms in isolated and full-suite runs here,
    # but the stand-in (niced, and stamping each event as it sends it) and the reader share these 2 cores with the
    # gateway, and one fresh-clone run of five showed a 112 ms gap with no block in the gateway's loop: so the
    # outside bound keeps a 200 ms margin for this shared VM.
    assert "appears to be blocked" not in gateway_log.read_text()
    assert worst_gap < 0.2, f"two events arrived {worst_gap * 1000:.0f} ms further apart than they were sent"
    assert extra < 0.2, f"an event arrived {extra * 1000:.0f} ms later than the best one"


def sent_times(stand_in, marker):
    """When the stand-in sent each data event of the stream whose request carried `marker`."""
    records = requests.get(f"{stand_in.removesuffix('/api/v1')}/_mock/requests", timeout=5).json()
    (record,) = [r for r in records if r["stream"] and marker in orjson.dumps(r["body"]).decode()]
    return [t for t, event in record["events"] if event.startswith("data:")]


def raw_request(path="/health/live", extra_headers="", method="GET"):
    return f"{method} {API}{path} HTTP/1.1\r\nHost: x\r\n{extra_headers}".encode()


def read_response(sock, limit=1 << 20):
    data = b""
    while (
        b"\r\n\r\n" not in data or len(data) < int(_header(data, b"content-length") or 0) + data.find(b"\r\n\r\n") + 4
    ):
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return data


def _header(data, name):
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip() == name:
            return value.strip()
    return None


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ("Authorization: Bearer " + "a" * 133_000 + "\r\n", 431, "request_too_large"),
        ("".join(f"X-H{i}: v\r\n" for i in range(150)), 431, "request_too_large"),
        ("X-Request-ID: " + "r" * 10_240 + "\r\n", 431, "request_too_large"),
        ("X-Bad: a\x01b\r\n", 400, "invalid_request_error"),
    ],
    ids=["133KB-header", "150-headers", "10KB-request-id", "bad-header-byte"],
)
def test_gunicorn_refusals_are_our_json_envelope(gateway, headers, status, error_type):
    host, port = gateway.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw_request(extra_headers=headers) + b"\r\n")
        answer = read_response(sock)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.split(b" ", 2)[1] == str(status).encode()
    assert _header(answer, b"content-type") == b"application/json"
    error = orjson.loads(body)["error"]
    assert (error["code"], error["type"]) == (status, error_type)
    assert error["request_id"] == _header(answer, b"x-request-id").decode()
    assert b"<html" not in body


def test_a_too_long_request_line_is_414_json(gateway):
    host, port = gateway.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {API}/health/live?{'q' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 414 ")
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "request_too_large"


@contextlib.contextmanager
def open_sockets(address, count):
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(address, timeout=10))
        yield socks
    finally:
        for sock in socks:
            sock.close()


def read_stream(base, chunks, sub, out):
    """Read a whole stream into out[sub] (bytes), for a thread."""
    body = {"messages": [{"role": "user", "content": f"go [[chunks:{chunks}]] [[interval_ms:{INTERVAL_MS}]]"}]}
    with requests.post(f"{base}{API}/chat/stream", json=body, headers=auth(sub), stream=True, timeout=30) as r:
        out[sub] = b"".join(r.iter_content(chunk_size=None))


def test_sigterm_lets_short_streams_finish_and_ends_long_ones_with_an_error_event(stand_in, tmp_path):
    env = gateway_env(stand_in, GUNICORN_GRACEFUL_TIMEOUT="3")
    with run_gunicorn(env, log_path=tmp_path / "gunicorn.log") as (base, proc):
        out = {}
        short = threading.Thread(target=read_stream, args=(base, 60, "short", out))  # 1.2 s: done in time
        long = threading.Thread(target=read_stream, args=(base, 1000, "long", out))  # 20 s: past the grace
        short.start(), long.start()
        time.sleep(0.5)
        started = time.monotonic()
        proc.terminate()
        short.join(10), long.join(10)
        ended_after = time.monotonic() - started
    assert out["short"].endswith(b"data: [DONE]\n\n") and b'"error"' not in out["short"]
    assert out["short"].count(b'"content"') >= 60
    last = [e for e in out["long"].split(b"\n\n") if e][-2:]
    assert last[1] == b"data: [DONE]"
    error = orjson.loads(last[0][6:])["error"]
    assert (error["code"], error["type"]) == (503, "service_unavailable")
    assert ended_after < 5  # the grace (3 s), not the stream's 20 s


def slow_body_head(length):
    """An authenticated chat request whose body will only ever have its first byte."""
    token = auth("slow")["Authorization"]
    headers = f"Authorization: {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    return raw_request("/chat/completions", headers, "POST")


def timed_call(base):
    """Seconds a normal call (a fresh connection, a real route) takes to answer."""
    started = time.perf_counter()
    r = requests.get(f"{base}{API}/health/live", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    return time.perf_counter() - started


def test_slow_and_idle_clients_do_not_lock_out_a_normal_call(gateway):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    host, port = gateway.rsplit("/", 1)[1].split(":")
    address = (host, int(port))
    quiet = min(timed_call(gateway) for _ in range(3))
    head = raw_request()  # a request head that never ends
    body = slow_body_head(5000)
    with open_sockets(address, 500) as slow_heads, open_sockets(address, 200) as slow_bodies:
        for sock in slow_heads:
            sock.sendall(head)
        for sock in slow_bodies:
            sock.sendall(body)
        with open_sockets(address, 2500):  # connected, silent: idle, dropped first near the limit
            time.sleep(1.5)  # long enough to count as idle (gevent_worker.MIN_IDLE_S)
            loaded = min(timed_call(gateway) for _ in range(3))
    assert loaded < 0.1, f"{loaded * 1000:.0f} ms under load, {quiet * 1000:.0f} ms quiet"


def test_a_client_trickling_its_head_or_body_is_cut_off(stand_in, tmp_path):
    env = gateway_env(stand_in, CLIENT_HEADER_TIMEOUT="1", CLIENT_BODY_TIMEOUT="1")
    with run_gunicorn(env, log_path=tmp_path / "gunicorn.log") as (base, _):
        host, port = base.rsplit("/", 1)[1].split(":")
        with open_sockets((host, int(port)), 2) as (slow_head, slow_body):
            started = time.monotonic()
            slow_head.sendall(raw_request())
            slow_body.sendall(slow_body_head(50))
            time.sleep(0.5)
            slow_head.sendall(b"X-More: 1\r\n")  # still trickling: the head's deadline is for the whole head
            assert slow_head.recv(100) == b""  # closed, no answer
            head_cut = time.monotonic() - started
            answer = read_response(slow_body)
        assert 0.9 < head_cut < 3
        assert answer.startswith(b"HTTP/1.1 400 ")  # the body ended short: our JSON 400, then closed
        assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["type"] == "invalid_request_error"


def test_a_frozen_redis_is_a_quick_503_under_the_gevent_worker(stand_in, tmp_path):
    with run_redis() as (redis_url, redis_proc):
        env = gateway_env(stand_in, REDIS_URL=redis_url)
        with run_gunicorn(env, log_path=tmp_path / "gunicorn.log") as (base, _):
            body = {"messages": [{"role": "user", "content": "hi"}]}
            call = lambda: requests.post(f"{base}{API}/chat/completions", json=body, headers=auth("r"), timeout=3)  # noqa: E731
            assert call().status_code == 200
            os.kill(redis_proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                frozen = call()
                frozen_for = time.monotonic() - started
                live = requests.get(f"{base}{API}/health/live", timeout=2)
            finally:
                os.kill(redis_proc.pid, signal.SIGCONT)
    assert frozen.status_code == 503 and frozen.json()["error"]["type"] == "service_unavailable"
    assert frozen_for < 2
    assert live.status_code == 200


def test_the_gthread_worker_still_serves_calls_streams_and_redis_state(stand_in, tmp_path):
    with run_redis() as (redis_url, _):
        env = live_env(stand_in, SECRET, LOG_LEVEL="INFO", REDIS_URL=redis_url, GUNICORN_WORKER_CLASS="gthread")
        with run_gunicorn(env, log_path=tmp_path / "gunicorn.log") as (base, _):
            body = {"messages": [{"role": "user", "content": "hi"}]}
            plain = requests.post(f"{base}{API}/chat/completions", json=body, headers=auth("threads"), timeout=10)
            with requests.post(
                f"{base}{API}/chat/stream", json=body, headers=auth("threads"), stream=True, timeout=10
            ) as streamed:
                raw = b"".join(streamed.iter_content(chunk_size=None))
            usage = requests.get(f"{base}{API}/usage", headers=auth("threads"), timeout=10)
    assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"] == "Mock reply to: hi"
    events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    words = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))
    assert streamed.status_code == 200 and raw.endswith(b"data: [DONE]\n\n") and words == "Mock reply to: hi"
    assert usage.status_code == 200 and usage.json()["totals"]["requests"] == 2
    assert "Using worker: gthread" in (tmp_path / "gunicorn.log").read_text()
