"""Shared state in a real Redis: quotas and slots across app instances, Redis stopped, frozen and back."""

import os
import signal
import time

import pytest
import redis
import requests

from services.redis_state import BREAK_FOR_S, make_redis
from tests.conftest import MOCK_KEY, assert_error, make_app, token_for
from tests.servers import run_redis, serve_app
from webapp.composition import services_of

CHAT = "/api/v2/openrouter/chat/completions"
HOLD = "/api/v2/openrouter/_test/hold"
QUOTA = "/api/v2/openrouter/_test/quota"
HEALTH = "/api/v2/openrouter/health"


@pytest.fixture
def redis_url():
    with run_redis() as (url, proc):
        yield url


def redis_app(url, upstream=None, **overrides):
    extra = {"OPENROUTER_BASE_URL": upstream.url, "OPENROUTER_API_KEY": MOCK_KEY} if upstream else {}
    return make_app(REDIS_URL=url, RATELIMIT_STORAGE_URI=url, **extra, **overrides)


def later(app):
    """Let the Redis breaker's pause pass (it stops asking a failed Redis for BREAK_FOR_S seconds)."""
    services_of(app).redis.breaker.clock = lambda: time.monotonic() + BREAK_FOR_S


def bearer(app, sub="alice"):
    return {"Authorization": f"Bearer {token_for(app, sub)}"}


def test_quota_shared_by_two_hosts(redis_url):
    host_a = redis_app(redis_url, RATELIMIT_CHAT="3/minute")
    host_b = redis_app(redis_url, RATELIMIT_CHAT="3/minute")
    statuses = []
    for app in (host_a, host_b, host_a, host_b):
        with app.test_client().post(QUOTA, headers=bearer(app)) as response:
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    with host_b.test_client().post(QUOTA, headers=bearer(host_b, "bob")) as response:
        assert response.status_code == 200


def test_concurrency_slots_shared_by_two_hosts(redis_url):
    host_a = redis_app(redis_url, MAX_CONCURRENT_PER_USER=2)
    host_b = redis_app(redis_url, MAX_CONCURRENT_PER_USER=2)
    first = host_a.test_client().get(HOLD, headers=bearer(host_a), buffered=False)
    second = host_b.test_client().get(HOLD, headers=bearer(host_b), buffered=False)
    assert (first.status_code, second.status_code) == (200, 200)
    third = host_a.test_client().get(HOLD, headers=bearer(host_a), buffered=False)
    assert_error(third, 429, "rate_limit_error", "at most 2 at once")
    first.close()
    fourth = host_b.test_client().get(HOLD, headers=bearer(host_b), buffered=False)
    assert fourth.status_code == 200
    second.close()
    fourth.close()
    assert services_of(host_a).concurrency.held("alice") == 0


def test_health_reports_redis(redis_url):
    app = redis_app(redis_url)
    body = app.test_client().get(HEALTH).get_json()
    assert body["checks"]["rate_limit_storage"] == {"status": "ok", "backend": "redis"}
    assert body["checks"]["session_store"] == {"status": "ok", "backend": "redis"}


def test_stopped_redis_is_503_then_recovers_without_restart(upstream):
    with run_redis() as (url, proc):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        app = redis_app(url, upstream)
        client = app.test_client()
        body = {"messages": [{"role": "user", "content": "hi"}]}
        assert client.post(CHAT, json=body, headers=bearer(app)).status_code == 200
    # Redis is gone: connection refused.
    response = client.post(CHAT, json=body, headers=bearer(app))
    assert_error(response, 503, "service_unavailable", "Redis")
    health = client.get(HEALTH)
    assert health.status_code == 503 and health.get_json()["status"] == "down"
    assert client.get(HEALTH + "/live").status_code == 200
    with run_redis(port=port):
        later(app)
        with client.post(CHAT, json=body, headers=bearer(app)) as response:
            assert response.status_code == 200
        assert client.get(HEALTH).get_json()["status"] == "ok"


def test_fail_open_lets_calls_through_while_redis_is_down(upstream):
    with run_redis() as (url, proc):
        app = redis_app(url, upstream, RATELIMIT_FAIL_OPEN=True, USER_DAILY_BUDGET_USD=1.0)
    client = app.test_client()
    with client.post(CHAT, json={"messages": [{"role": "user", "content": "hi"}]}, headers=bearer(app)) as r:
        assert r.status_code == 200
        assert "X-RateLimit-Limit" not in r.headers
    health = client.get(HEALTH)
    assert health.status_code == 200 and health.get_json()["status"] == "degraded"


def test_frozen_redis_answers_503_within_a_second(upstream):
    with run_redis() as (url, proc):
        app = redis_app(url, upstream)
        with serve_app(app) as base:
            headers = bearer(app)
            body = {"messages": [{"role": "user", "content": "hi"}]}
            assert requests.post(base + CHAT, json=body, headers=headers, timeout=5).status_code == 200
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                # A hang would raise requests' ReadTimeout here instead of answering.
                response = requests.post(base + CHAT, json=body, headers=headers, timeout=2)
                frozen_for = time.monotonic() - started
                health = requests.get(base + HEALTH, timeout=2)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            assert response.status_code == 503
            assert response.json()["error"]["type"] == "service_unavailable"
            assert frozen_for < 2
            assert health.status_code == 503
            later(app)
            assert requests.post(base + CHAT, json=body, headers=headers, timeout=5).status_code == 200


def test_breaker_fails_fast_then_tries_again():
    import redis as redis_lib

    from services.redis_state import Breaker

    now = [100.0]
    breaker, calls = Breaker(seconds=5, clock=lambda: now[0]), []

    def down():
        calls.append(1)
        raise redis_lib.TimeoutError("frozen")

    for _ in range(2):
        with pytest.raises(redis_lib.ConnectionError if calls else redis_lib.TimeoutError):
            breaker.call(down)
    assert len(calls) == 1  # the second call did not wait on Redis
    now[0] += 5
    assert breaker.call(lambda: "back") == "back"
    with pytest.raises(redis_lib.ResponseError):  # a command's own error is not Redis being down
        breaker.call(lambda: (_ for _ in ()).throw(redis_lib.ResponseError("NOSCRIPT")))
    assert breaker.call(lambda: "still closed") == "still closed"


def test_fail_open_with_a_frozen_redis_stays_quick(upstream):
    with run_redis() as (url, proc):
        app = redis_app(url, upstream, RATELIMIT_FAIL_OPEN=True, USER_DAILY_BUDGET_USD=1.0)
        with serve_app(app) as base:
            headers, body = bearer(app), {"messages": [{"role": "user", "content": "hi"}]}
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                first = requests.post(base + CHAT, json=body, headers=headers, timeout=5)
                # Our own Redis steps now fail at once; only flask-limiter's own client still waits its timeout.
                second = requests.post(base + CHAT, json=body, headers=headers, timeout=1.5)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
    assert (first.status_code, second.status_code) == (200, 200)


def test_invoke_with_redis_down_refuses_before_calling_the_model(upstream):
    with run_redis() as (url, proc):
        app = redis_app(url, upstream, RATELIMIT_FAIL_OPEN=True)
    body = {"model": "openai/gpt-4o", "builtin_tools": True, "messages": [{"role": "user", "content": "hi"}]}
    with app.test_client().post("/api/v2/openrouter/tools/invoke", json=body, headers=bearer(app)) as response:
        assert_error(response, 503, "service_unavailable", "Redis")
    assert upstream.hits("/chat/completions") == 0


def test_a_reply_less_command_on_a_connection_redis_dropped_still_arrives(redis_url):
    # The pool checks a connection before each use (parser.can_read): one Redis closed is replaced, so a command
    # whose reply nobody reads is not written into a dead socket and lost.
    client, probe = make_redis(redis_url), redis.Redis.from_url(redis_url)
    assert client.ping()
    assert probe.client_kill_filter(_type="normal", skipme=True) >= 1  # the client's pooled connection
    client.send_without_reply("SET", "gw:reply-less", "arrived")
    assert probe.get("gw:reply-less") == b"arrived"  # sent later, so run later: no wait needed


def test_a_caller_past_the_pool_waits_for_a_connection_to_come_back_then_gives_up(redis_url, monkeypatch):
    """Beyond max_connections a caller waits; a connection given back goes to it; past POOL_WAIT_S it is PoolBusy
    (the worker is busy, Redis is not down: no breaker)."""
    import threading

    from services import redis_state

    monkeypatch.setattr(redis_state, "POOL_WAIT_S", 0.2)
    client = redis_state.make_redis(redis_url, max_connections=2)
    pool = client.connection_pool
    held = [pool.get_connection(), pool.get_connection()]
    started = time.monotonic()
    with pytest.raises(redis_state.PoolBusy):
        pool.get_connection()
    assert 0.2 <= time.monotonic() - started < 1
    threading.Timer(0.05, pool.release, (held[0],)).start()
    assert pool.get_connection() is held[0]  # the one given back, not a third socket
    assert pool._created_connections == 2
    pool.release(held[0])
    pool.release(held[1])
    assert client.ping() and client.breaker.open_until == 0.0


def test_the_admission_script_survives_a_script_flush_and_a_dropped_connection(redis_url):
    from services.redis_admission import RedisAdmission, Window

    client, probe = make_redis(redis_url), redis.Redis.from_url(redis_url)
    admission = RedisAdmission(client)
    window = Window("gw:window:flush-test", 2, 60)
    assert admission.admit(window=window).verdict == "ok"
    probe.script_flush()  # Redis restarted or flushed: EVALSHA answers NOSCRIPT, EVAL loads the script again
    assert admission.admit(window=window).verdict == "ok"
    assert probe.client_kill_filter(_type="normal", skipme=True) >= 1  # the pooled connection is gone
    outcome = admission.admit(window=window)
    assert (outcome.verdict, outcome.count) == ("window", 2)  # decided on a new socket, counted once
    assert probe.llen("gw:window:flush-test") == 2


def test_a_script_whose_connection_fails_is_sent_once_more_on_a_new_socket(redis_url):
    from services.redis_admission import RedisAdmission, Window

    client = make_redis(redis_url)
    admission = RedisAdmission(client)
    assert admission.admit(window=Window("gw:window:retry-test", 5, 60)).verdict == "ok"
    (connection,) = client.connection_pool._available_connections
    sends = []
    plain_send = connection.send_command

    def breaks_once(*args, **kwargs):
        sends.append(args[0])
        if len(sends) == 1:
            raise redis.ConnectionError("connection reset by peer")
        return plain_send(*args, **kwargs)

    connection.send_command = breaks_once
    outcome = admission.admit(window=Window("gw:window:retry-test", 5, 60))
    assert (outcome.verdict, outcome.count) == ("ok", 2)  # decided by the second send, counted once
    assert [name for name in sends if name.startswith("EVAL")] == ["EVALSHA", "EVALSHA"]  # besides the handshake
    assert client.breaker.open_until == 0.0  # a failure redis-py would have retried does not open the breaker
