"""Two gateway hosts (two gunicorn masters, two workers each) on one Redis, with clocks 60 s apart."""

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import requests

from tests.conftest import live_auth, live_env
from tests.servers import run_gunicorn, run_redis

SECRET = "two-hosts-secret-" + "0" * 32
API = "/api/v2/openrouter"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def host_env(upstream_url, redis_url, **extra):
    # At most 8 connections per worker at once, so a burst must spread over both workers of a host.
    workers = {"WEB_CONCURRENCY": "2", "GUNICORN_CMD_ARGS": "--worker-connections 8"}
    return live_env(upstream_url, SECRET, LOG_LEVEL="INFO", REDIS_URL=redis_url, **{**workers, **extra})


def skewed(seconds):
    """libfaketime (Debian's `faketime`, installed by .ci/run): the host's wall clock moved by `seconds`."""
    assert os.path.exists(FAKETIME_LIB), "libfaketime is not installed (.ci/run installs faketime)"
    # The monotonic clock moves by the same offset (FAKETIME_DONT_FAKE_MONOTONIC breaks Python's time.sleep).
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": f"{seconds:+d}s"}


@pytest.fixture(scope="module")
def hosts(mock_openrouter, tmp_path_factory):
    """Host A runs 30 s ahead, host B 30 s behind; both share one Redis."""
    logs = tmp_path_factory.mktemp("hosts")
    with run_redis() as (redis_url, _), ExitStack() as stack:
        extra = {"MAX_CONCURRENT_PER_USER": "100", "RATELIMIT_STREAMING": "3 per 30 seconds"}
        started = []
        for name, skew in (("a", 30), ("b", -30)):
            env = host_env(mock_openrouter.url, redis_url, **extra, **skewed(skew))
            base, _ = stack.enter_context(run_gunicorn(env, log_path=logs / f"{name}.log"))
            started.append((base, logs / f"{name}.log"))
        yield started


def auth(sub):
    return live_auth(sub, SECRET, ttl=900)


def access_lines(log):
    for line in log.read_text().splitlines():
        if line.startswith("{") and '"gateway.access"' in line:
            yield json.loads(line)


def chat(base, sub, text="hi", stream=False, **kwargs):
    body = {"messages": [{"role": "user", "content": text}], "stream": stream}
    return requests.post(f"{base}{API}/chat/completions", json=body, headers=auth(sub), timeout=30, **kwargs)


def test_the_hosts_clocks_really_differ(hosts):
    (a, _), (b, _) = hosts
    dates = [requests.get(f"{base}{API}/health/live", timeout=5).headers["Date"] for base in (a, b)]
    ahead, behind = (time.mktime(time.strptime(d, "%a, %d %b %Y %H:%M:%S GMT")) for d in dates)
    assert 55 <= ahead - behind <= 65


def test_forty_concurrent_calls_over_four_workers_give_exactly_thirty(hosts, upstream):
    def call(i):
        base = hosts[i % 2][0]  # a fresh connection per call: the kernel spreads them over each host's workers
        return chat(base, "exact-user", "hi [[delay_ms:200]]")

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(call, range(40)))
    assert sorted(r.status_code for r in responses) == [200] * 30 + [429] * 10
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error"]["type"] == "rate_limit_error"
            assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert upstream.hits("/chat/completions") == 30
    pids = {line["pid"] for _, log in hosts for line in access_lines(log) if line.get("user") == "exact-user"}
    assert len(pids) == 4  # every worker of both hosts took part


def test_hosts_60_seconds_apart_share_one_window_exactly(hosts, upstream):
    # A 30 s window: on the host ahead, the hits made by the host behind would look already expired.
    results = [chat(hosts[(i + 1) % 2][0], "skewed-user", stream=True) for i in range(6)]
    assert [r.status_code for r in results] == [200, 200, 200, 429, 429, 429]
    for response in results[3:]:
        assert 25 <= int(response.headers["Retry-After"]) <= 31  # each host's own clock, Redis's window
        assert response.headers["X-RateLimit-Remaining"] == "0"
    assert upstream.hits("/chat/completions") == 3


def test_a_tool_session_made_on_one_host_is_submitted_on_the_other(hosts, upstream):
    (a, _), (b, _) = hosts
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    text = 'weather? [[call:get_weather:{"city":"Paris"}]]'
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}], "tools": tools}
    started = requests.post(f"{a}{API}/tools/invoke", json=body, headers=auth("tools-user"), timeout=30)
    assert started.status_code == 200 and started.json()["status"] == "requires_action"
    answer = started.json()
    outputs = [{"tool_call_id": call["id"], "output": "sunny"} for call in answer["tool_calls"]]
    submit = {"session_id": answer["session_id"], "tool_outputs": outputs}
    done = requests.post(f"{b}{API}/tools/submit", json=submit, headers=auth("tools-user"), timeout=30)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["message"]["content"] == "Tool results: sunny"
    again = requests.post(f"{a}{API}/tools/submit", json=submit, headers=auth("tools-user"), timeout=30)
    assert again.status_code == 409 and again.json()["error"]["type"] == "conflict_error"


def test_usage_totals_are_the_same_on_both_hosts(hosts, upstream):
    (a, _), (b, _) = hosts
    for base, stream in ((a, False), (b, False), (a, True), (b, True)):
        response = chat(base, "usage-user", stream=stream)
        assert response.status_code == 200
        response.close()
    reports = [requests.get(f"{base}{API}/usage?days=1", headers=auth("usage-user"), timeout=5) for base in (a, b)]
    assert [r.status_code for r in reports] == [200, 200]
    first, second = (r.json() for r in reports)
    assert first["totals"] == second["totals"]
    assert first["totals"]["requests"] == 4
    assert first["totals"]["prompt_tokens"] > 0 and first["totals"]["completion_tokens"] > 0


@pytest.fixture(scope="module")
def capped_host(mock_openrouter, tmp_path_factory):
    """One more host with a cap of one call in flight per user and 3 s slot leases; yields (env, base)."""
    with run_redis() as (redis_url, _):
        env = host_env(mock_openrouter.url, redis_url, MAX_CONCURRENT_PER_USER="1", CONCURRENCY_SLOT_TTL="3")
        with run_gunicorn(env, log_path=tmp_path_factory.mktemp("capped") / "b.log") as (base, _):
            yield env, base


def test_back_to_back_calls_with_a_cap_of_one_all_pass(capped_host, upstream):
    _, base = capped_host
    statuses = []
    with requests.Session() as session:  # one kept-alive connection: the next call follows the last byte at once
        for i in range(40):
            body = {"messages": [{"role": "user", "content": "hi"}], "stream": i % 2 == 1}
            response = session.post(f"{base}{API}/chat/completions", json=body, headers=auth("seq"), timeout=30)
            statuses.append(response.status_code)
    assert statuses == [200] * 40


def worker_pids(master):
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


def test_a_killed_host_frees_its_slots_and_the_other_keeps_answering(capped_host, upstream, tmp_path):
    env, survivor = capped_host
    slow = "go [[chunks:400]] [[interval_ms:50]]"  # a 20 s stream
    with run_gunicorn(env, log_path=tmp_path / "victim.log") as (victim, proc):
        body = {"messages": [{"role": "user", "content": slow}], "stream": True}
        stream = requests.post(f"{victim}{API}/chat/stream", json=body, headers=auth("killed"), stream=True, timeout=30)
        assert stream.status_code == 200
        lines = stream.iter_lines()
        next(lines)
        # The slot is shared: the survivor refuses a second call, and still does after the lease (3 s) would
        # have run out, because the running stream renews it.
        started = time.monotonic()
        while time.monotonic() - started < 4:
            next(lines)
        refused = requests.post(f"{survivor}{API}/chat/completions", json=body, headers=auth("killed"), timeout=30)
        assert refused.status_code == 429
        assert "at most 1 at once" in refused.json()["error"]["message"]
        for pid in [*worker_pids(proc.pid), proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.wait(5)
        killed_at = time.monotonic()
        stream.close()
    assert requests.get(f"{survivor}{API}/health", timeout=5).json()["status"] == "ok"
    quick = {"messages": [{"role": "user", "content": "hi"}]}
    while True:
        answer = requests.post(f"{survivor}{API}/chat/completions", json=quick, headers=auth("killed"), timeout=30)
        if answer.status_code == 200:
            break
        assert answer.status_code == 429
        assert time.monotonic() - killed_at < 3 + 3, "the dead host's slot outlived its lease"
        time.sleep(0.2)
    assert requests.post(f"{survivor}{API}/chat/completions", json=quick, headers=auth("other"), timeout=30).ok
