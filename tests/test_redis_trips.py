"""What a call costs Redis: one network round trip before the upstream call, and after it one command sent
without waiting for a reply (CLIENT REPLY SKIP, then the settlement script)."""

import pytest
import redis

from tests.conftest import MOCK_KEY, make_app, token_for
from tests.servers import run_redis
from webapp.composition import services_of

API = "/api/v2/openrouter"
BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def redis_url():
    with run_redis() as (url, _):
        yield url


def counters(probe):
    """(network reads Redis processed, commandstats by command), minus the probe's own INFO reads."""
    info = probe.info("all")
    calls = {name[len("cmdstat_") :]: stats["calls"] for name, stats in info.items() if name.startswith("cmdstat_")}
    return info["total_reads_processed"], calls


def cost_of(probe, call):
    """Reads and commands that `call()` caused (each INFO is one read, counted out)."""
    reads_before, calls_before = counters(probe)
    call()
    reads_after, calls_after = counters(probe)
    calls = {k: v - calls_before.get(k, 0) for k, v in calls_after.items() if v != calls_before.get(k, 0)}
    calls["info"] -= 1
    return reads_after - reads_before - 1, {k: v for k, v in calls.items() if v}


def app_on(url, upstream, **overrides):
    return make_app(REDIS_URL=url, OPENROUTER_BASE_URL=upstream.url, OPENROUTER_API_KEY=MOCK_KEY, **overrides)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/completions", BODY),
        ("/chat/stream", BODY),
        ("/chat/completions", {**BODY, "stream": True}),
    ],
)
def test_a_chat_call_is_one_round_trip_and_one_reply_less_write(redis_url, upstream, path, body):
    app = app_on(redis_url, upstream, USER_DAILY_BUDGET_USD=5.0)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app, 'trips')}"}
    probe = redis.Redis.from_url(redis_url)

    def call():
        with client.post(API + path, json=body, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] in ("30", "20")
            response.get_data()

    call()  # warm: the pool's connection is open and the scripts are loaded
    reads, calls = cost_of(probe, call)
    assert reads <= 2, calls
    # Before: one script (window, budget, slot). After: one script (slot release, usage counters) whose reply
    # Redis skips, so nothing waits for it.
    assert calls["evalsha"] == 1 and calls["eval"] == 1 and calls["client|reply"] == 1
    assert calls["zrem"] == 1 and calls["hincrby"] == 3 and calls["hincrbyfloat"] == 1
    assert "ping" not in calls and "get" not in calls
    assert services_of(app).concurrency.held("trips") == 0
    assert services_of(app).usage.report("trips", 1)["totals"]["requests"] == 2  # warm call and this one


def test_a_tool_loop_settles_every_model_call_in_one_trip(redis_url, upstream):
    app = app_on(redis_url, upstream)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app, 'tooler')}"}
    probe = redis.Redis.from_url(redis_url)
    body = {"model": "openai/gpt-4o", "builtin_tools": ["calculate"], "messages": [{"role": "user", "content": "x"}]}
    body["messages"][0]["content"] = 'sum [[call:calculate:{"expression":"1+2"}]]'

    def call():
        response = client.post(API + "/tools/invoke", json=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["iterations"] == 2

    call()
    reads, calls = cost_of(probe, call)
    # Admission; the session store's room check and its capped write (two scripts, redis_sessions.py); one
    # reply-less settlement for both model calls.
    assert reads <= 4, calls
    assert calls["evalsha"] == 3 and calls["eval"] == 1
    assert calls["hincrby"] == 6 and calls["zrem"] == 1


def test_limits_read_from_the_hit_not_a_second_script(redis_url, upstream):
    app = app_on(redis_url, upstream, RATELIMIT_CHAT="2/minute")
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app, 'headers')}"}
    probe = redis.Redis.from_url(redis_url)
    warm = {"Authorization": f"Bearer {token_for(app, 'warm')}"}
    assert client.post(API + "/chat/completions", json=BODY, headers=warm).status_code == 200
    seen = []

    def call():
        seen.append(client.post(API + "/chat/completions", json=BODY, headers=headers))

    for settled in (1, 1, 0):  # the refused call is only the admission: nothing to settle
        reads, calls = cost_of(probe, call)
        assert calls["evalsha"] == 1 and calls.get("eval", 0) == settled and reads <= 1 + settled
    assert [r.status_code for r in seen] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["1", "0", "0"]
    assert 1 <= int(seen[2].headers["Retry-After"]) <= 61
    assert services_of(app).concurrency.held("headers") == 0  # a refused call took no slot
