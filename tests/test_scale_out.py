"""Several gunicorn workers sharing state in a real Redis: exact quotas across workers."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import live_auth, live_env
from tests.servers import run_gunicorn, run_redis

SECRET = "scale-out-secret-" + "0" * 32
API = "/api/v2/openrouter"


@pytest.fixture(scope="module")
def cluster(mock_openrouter, tmp_path_factory):
    log = tmp_path_factory.mktemp("scale") / "gunicorn.log"
    with run_redis() as (redis_url, _):
        env = live_env(
            mock_openrouter.url,
            SECRET,
            LOG_LEVEL="INFO",
            REDIS_URL=redis_url,
            WEB_CONCURRENCY="3",
            MAX_CONCURRENT_PER_USER="100",
            # Each worker takes at most 8 connections at once, so a burst must spread over all three.
            GUNICORN_CMD_ARGS="--worker-connections 8",
        )
        with run_gunicorn(env, log_path=log) as (base, proc):
            yield base, log


def auth(sub):
    return live_auth(sub, SECRET)


def worker_pids(log, path):
    pids = set()
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "gateway.access" and entry.get("path") == path:
                pids.add(entry["pid"])
    return pids


def test_forty_concurrent_calls_of_one_user_give_exactly_thirty(cluster, upstream):
    base, log = cluster
    headers = auth("exact-user")
    body = {"messages": [{"role": "user", "content": "hi [[delay_ms:200]]"}]}

    def call(_):
        # A fresh connection per call, so the kernel spreads them over the workers.
        return requests.post(f"{base}{API}/chat/completions", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(call, range(40)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 30 + [429] * 10
    for response in responses:
        if response.status_code == 429:
            assert response.json()["error"]["type"] == "rate_limit_error"
            assert int(response.headers["Retry-After"]) >= 1
    assert upstream.hits("/chat/completions") == 30
    assert len(worker_pids(log, f"{API}/chat/completions")) >= 2
    # /metrics adds up every worker's counters (prometheus-client multiprocess mode).
    text = requests.get(f"{base}{API}/metrics", timeout=5).text
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gateway_requests_total" and sample.labels["route"] == f"{API}/chat/completions":
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    assert counts == {"200": 30.0, "429": 10.0}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def pid_of(log, request_id):
    for line in log.read_text().splitlines():
        if line.startswith("{") and f'"request_id":"{request_id}"' in line and '"gateway.access"' in line:
            return json.loads(line)["pid"]
    return None


def invoke(base, sub, text, request_id):
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}], "tools": TOOLS}
    return requests.post(
        f"{base}{API}/tools/invoke", json=body, timeout=30, headers={**auth(sub), "X-Request-ID": request_id}
    )


def submit(base, sub, answer, request_id):
    body = {
        "session_id": answer["session_id"],
        "tool_outputs": [{"tool_call_id": call["id"], "output": "sunny"} for call in answer["tool_calls"]],
    }
    return requests.post(
        f"{base}{API}/tools/submit", json=body, timeout=30, headers={**auth(sub), "X-Request-ID": request_id}
    )


def test_tool_sessions_made_on_one_worker_are_submitted_on_any(cluster, upstream):
    base, log = cluster
    text = 'weather? [[call:get_weather:{"city":"Paris"}]]'

    def round_trip(i):
        answer = invoke(base, f"tools-{i}", text, f"invoke-{i}")
        assert answer.status_code == 200 and answer.json()["status"] == "requires_action"
        done = submit(base, f"tools-{i}", answer.json(), f"submit-{i}")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"
        assert done.json()["message"]["content"] == "Tool results: sunny"
        return i

    with ThreadPoolExecutor(12) as pool:
        assert sorted(pool.map(round_trip, range(12))) == list(range(12))
    moved = [i for i in range(12) if pid_of(log, f"invoke-{i}") != pid_of(log, f"submit-{i}")]
    assert moved, "every session was submitted on the worker that made it"


def test_racing_submits_through_the_cluster_exactly_one_continues(cluster, upstream):
    base, _ = cluster
    answer = invoke(base, "racer", 'go [[call:get_weather:{"city":"Oslo"}]] [[delay_ms:400]]', "race-invoke").json()
    barrier = threading.Barrier(2)

    def racer(i):
        barrier.wait()
        return submit(base, "racer", answer, f"race-{i}")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(racer, range(2)))
    assert sorted(r.status_code for r in results) == [200, 409]
    conflict = next(r for r in results if r.status_code == 409).json()["error"]
    assert conflict["type"] == "conflict_error"
