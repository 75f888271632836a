"""Tool sessions under pressure: per-user caps on pending sessions and on a session's size (memory and Redis
alike), and a submit whose save meets a Redis hiccup (a real redis-server, frozen and thawed around it)."""

import os
import signal
import threading
import time

import pytest
import requests

from core.errors import RateLimitError, RequestTooLargeError, ServiceUnavailableError
from services.redis_sessions import RedisSessionStore
from services.redis_state import BREAK_FOR_S, make_redis
from services.tool_sessions import MemorySessionStore
from tests.conftest import TickClock, assert_error, gateway_app, token_for
from tests.servers import run_redis, serve_app
from webapp.composition import services_of

BASE = "/api/v2/openrouter"
MODEL = "openai/gpt-4o"
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


@pytest.fixture(scope="module")
def redis_server():
    with run_redis() as (url, proc):
        yield url, proc


@pytest.fixture(params=["memory", "redis"])
def make_store(request, redis_server):
    def build(clock, **caps):
        if request.param == "memory":
            return MemorySessionStore(ttl=60, clock=clock, **caps)
        prefix = f"t{time.monotonic_ns()}:"  # each test its own keys in the shared server
        return RedisSessionStore(make_redis(redis_server[0]), 60, clock=clock, prefix=prefix, **caps)

    return build


def pending(owner="alice", text="hi"):
    return {
        "owner": owner,
        "state": "requires_action",
        "messages": [{"role": "user", "content": text}],
        "pending": ["c"],
    }


# --------------------------------------------------------------------------- the stores


def test_pending_sessions_are_capped_per_user(make_store):
    clock = TickClock()
    store = make_store(clock, max_per_user=2)
    first = store.create(pending())
    clock.now += 10
    store.create(pending())
    store.create({**pending(), "state": "completed"})  # a completed session is not pending
    with pytest.raises(RateLimitError, match="at most 2 per user") as refused:
        store.check_room("alice")
    assert refused.value.headers["Retry-After"] == "50"  # until the oldest pending one expires
    with pytest.raises(RateLimitError, match="MAX_TOOL_SESSIONS_PER_USER"):
        store.create(pending())
    store.check_room("bob")  # per user
    store.create(pending("bob"))
    session = store.claim(first, "alice")
    store.complete(first, session)  # a finished session frees its place
    store.check_room("alice")
    store.create(pending())
    with pytest.raises(RateLimitError):
        store.create(pending())
    clock.now += 60  # every session of alice has expired
    store.check_room("alice")


def test_a_session_claimed_again_keeps_its_place(make_store):
    clock = TickClock()
    store = make_store(clock, max_per_user=1)
    sid = store.create(pending())
    session = store.claim(sid, "alice")
    store.save_pending(sid, session)  # still pending: still one of one
    with pytest.raises(RateLimitError):
        store.check_room("alice")


def test_session_size_is_capped(make_store):
    clock = TickClock()
    store = make_store(clock, max_bytes=2048)
    with pytest.raises(RequestTooLargeError, match="at most 2048 \\(MAX_TOOL_SESSION_BYTES\\)"):
        store.check_room("alice", pending(text="x" * 2048))
    with pytest.raises(RequestTooLargeError):
        store.create(pending(text="x" * 2048))
    sid = store.create(pending(text="small"))
    session = store.claim(sid, "alice")
    session["messages"].append({"role": "tool", "tool_call_id": "c", "content": "y" * 2048})
    with pytest.raises(RequestTooLargeError):
        store.check_size(session)
    with pytest.raises(RequestTooLargeError):
        store.settle(sid, session, "fp", lambda: {})
    assert store.claim(sid, "alice")["messages"] == [{"role": "user", "content": "small"}]  # released unchanged


def test_a_release_that_meets_a_frozen_redis_lands_when_it_thaws(redis_server):
    url, proc = redis_server
    store = RedisSessionStore(make_redis(url), 60, prefix="release:")
    sid = store.create(pending())
    session = store.claim(sid, "alice")
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        store.release(sid, session)  # does not raise: the release is kept
        assert store.unsaved() == 1
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    store.client.breaker.clock = lambda: time.monotonic() + BREAK_FOR_S
    deadline = time.monotonic() + 5
    while store.unsaved() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.unsaved() == 0
    assert store.claim(sid, "alice")["messages"] == pending()["messages"]


# --------------------------------------------------------------------------- over HTTP, against the stand-in


def invoke(client, headers, text):
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "tools": [WEATHER]}
    with client.post(f"{BASE}/tools/invoke", json=body, headers=headers) as response:
        response.get_data()
        return response


def submit(client, headers, session_id, call_id, output="sunny"):
    body = {"session_id": session_id, "tool_outputs": [{"tool_call_id": call_id, "output": output}]}
    with client.post(f"{BASE}/tools/submit", json=body, headers=headers) as response:
        response.get_data()
        return response


@pytest.fixture(params=["memory", "redis"])
def capped_app(request, upstream, redis_server):
    def build(**caps):
        redis = {"REDIS_URL": redis_server[0]} if request.param == "redis" else {}
        # Each test its own user: the Redis server (and its per-user index) is shared by the module.
        app = gateway_app(upstream, **redis, **caps)
        sub = f"user-{time.monotonic_ns()}"
        return app.test_client(), {"Authorization": f"Bearer {token_for(app, sub)}"}

    return build


def test_invoke_over_the_cap_is_429_before_any_model_call(capped_app, upstream):
    client, headers = capped_app(MAX_TOOL_SESSIONS_PER_USER=2)
    sessions = [invoke(client, headers, "[[call:get_weather:{}]]").get_json() for _ in range(2)]
    assert [s["status"] for s in sessions] == ["requires_action"] * 2
    refused = invoke(client, headers, "[[call:get_weather:{}]]")
    assert_error(refused, 429, "rate_limit_error", "at most 2 per user (MAX_TOOL_SESSIONS_PER_USER)")
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    assert upstream.hits("/chat/completions") == 2
    first = sessions[0]
    assert submit(client, headers, first["session_id"], first["tool_calls"][0]["id"]).status_code == 200
    assert invoke(client, headers, "[[call:get_weather:{}]]").status_code == 200  # its place was freed


def test_oversized_sessions_are_413_and_cost_nothing(capped_app, upstream):
    client, headers = capped_app(MAX_TOOL_SESSION_BYTES=4096)
    assert_error(invoke(client, headers, "x" * 5000), 413, "request_too_large", "MAX_TOOL_SESSION_BYTES")
    assert upstream.hits("/chat/completions") == 0
    first = invoke(client, headers, "[[call:get_weather:{}]]").get_json()
    call_id = first["tool_calls"][0]["id"]
    too_big = submit(client, headers, first["session_id"], call_id, "y" * 5000)
    assert_error(too_big, 413, "request_too_large", "at most 4096")
    assert upstream.hits("/chat/completions") == 1
    assert submit(client, headers, first["session_id"], call_id, "small").status_code == 200


# --------------------------------------------------------------------------- a Redis hiccup during a submit


def test_submit_whose_save_meets_a_frozen_redis_keeps_its_result(upstream):
    with run_redis() as (url, proc):
        app = gateway_app(upstream, REDIS_URL=url)
        headers = {"Authorization": f"Bearer {token_for(app)}"}
        first = invoke(app.test_client(), headers, "[[delay_ms:700]] [[call:get_weather:{}]]").get_json()
        call_id = first["tool_calls"][0]["id"]
        body = {"session_id": first["session_id"], "tool_outputs": [{"tool_call_id": call_id, "output": "sunny"}]}
        answers = []
        with serve_app(app) as base:
            send = lambda: answers.append(requests.post(f"{base}{BASE}/tools/submit", json=body, headers=headers))  # noqa: E731
            submitting = threading.Thread(target=send)
            submitting.start()
            assert upstream.wait_for(lambda: upstream.hits("/chat/completions") == 2)
            os.kill(proc.pid, signal.SIGSTOP)  # the model call is under way: Redis freezes before the save
            try:
                submitting.join(10)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            [failed] = answers
            assert failed.status_code == 503
            assert "send the same outputs again" in failed.json()["error"]["message"]
            services_of(app).redis.breaker.clock = lambda: time.monotonic() + BREAK_FOR_S
            retried = requests.post(f"{base}{BASE}/tools/submit", json=body, headers=headers, timeout=10)
        assert retried.status_code == 200, retried.text
        answer = retried.json()
        assert (answer["session_id"], answer["status"], answer["stop_reason"]) == (
            first["session_id"],
            "completed",
            "stop",
        )
        assert answer["message"]["content"] == "Tool results: sunny"
        assert upstream.hits("/chat/completions") == 2  # the paid call was not made again
        other = dict(body, tool_outputs=[{"tool_call_id": call_id, "output": "rainy"}])
        assert_error(app.test_client().post(f"{BASE}/tools/submit", json=other, headers=headers), 409, "conflict_error")


def test_settle_answers_503_and_keeps_the_step_while_redis_is_away(redis_server):
    url, proc = redis_server
    store = RedisSessionStore(make_redis(url), 60, prefix="settle:")
    sid = store.create(pending())
    session = store.claim(sid, "alice", "fp")
    session["pending"] = []
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(ServiceUnavailableError, match="it is kept"):
            store.settle(sid, session, "fp", lambda: {"answer": 42})
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    store.client.breaker.clock = lambda: time.monotonic() + BREAK_FOR_S
    assert store.claim(sid, "alice", "fp") == {"replay": {"answer": 42}}
    assert store.claim(sid, "alice", "fp") == {"replay": {"answer": 42}}  # as often as the caller asks
