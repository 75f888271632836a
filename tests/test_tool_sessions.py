"""The session store's atomic steps, the same for the in-memory and the Redis implementation."""

import threading

import pytest

from core.errors import ConflictError, NotFoundError
from services.redis_sessions import RedisSessionStore
from services.redis_state import make_redis
from services.tool_sessions import MemorySessionStore
from tests.conftest import TickClock
from tests.servers import run_redis


@pytest.fixture(scope="module")
def redis_client():
    with run_redis() as (url, _):
        yield make_redis(url)


@pytest.fixture(params=["memory", "redis"])
def make_store(request, redis_client):
    def build(ttl=60, clock=None, **kwargs):
        clock = clock or TickClock()
        if request.param == "memory":
            return MemorySessionStore(ttl=ttl, clock=clock)
        return RedisSessionStore(redis_client, ttl, clock=clock, **kwargs)

    return build


def stored(state="requires_action", owner="alice"):
    return {"owner": owner, "state": state, "messages": [{"role": "user", "content": "hi"}], "pending": ["c1"]}


def test_claim_save_and_complete(make_store):
    clock = TickClock()
    store = make_store(clock=clock)
    sid = store.create(stored())
    session = store.claim(sid, "alice")
    assert session["state"] == "running" and session["expires_at"] == 1060
    with pytest.raises(ConflictError, match="already being submitted"):
        store.claim(sid, "alice")
    session["messages"].append({"role": "tool", "tool_call_id": "c1", "content": "x"})
    clock.now += 30
    store.save_pending(sid, session)
    again = store.claim(sid, "alice")
    assert len(again["messages"]) == 2 and again["expires_at"] == 1090
    store.complete(sid, again)
    with pytest.raises(ConflictError, match="completed"):
        store.claim(sid, "alice")


def test_release_keeps_the_session_unchanged(make_store):
    store = make_store()
    sid = store.create(stored())
    session = store.claim(sid, "alice")
    session["messages"].clear()
    store.release(sid)
    assert store.claim(sid, "alice")["messages"] == [{"role": "user", "content": "hi"}]


def test_not_found_cases(make_store):
    clock = TickClock()
    store = make_store(clock=clock)
    sid = store.create(stored())
    for session_id, owner in ((sid, "bob"), ("tsess_nope", "alice"), (None, "alice")):
        with pytest.raises(NotFoundError):
            store.claim(session_id, owner)
    clock.now += 60
    with pytest.raises(NotFoundError):
        store.claim(sid, "alice")


def test_only_one_of_many_racing_claims_wins(make_store):
    store = make_store()
    sid = store.create(stored())
    barrier, outcomes = threading.Barrier(8), []

    def claim():
        barrier.wait()
        try:
            store.claim(sid, "alice")
            outcomes.append("claimed")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(outcomes) == ["claimed"] + ["conflict"] * 7


def test_redis_claim_of_a_dead_worker_lapses(redis_client):
    clock = TickClock()
    store = RedisSessionStore(redis_client, 600, claim_lease=100, clock=clock)
    sid = store.create(stored())
    store.claim(sid, "alice")  # the worker holding it dies here
    with pytest.raises(ConflictError):
        store.claim(sid, "alice")
    clock.now += 100
    assert store.claim(sid, "alice")["messages"] == [{"role": "user", "content": "hi"}]


def test_redis_keys_expire_with_the_ttl(redis_client):
    store = RedisSessionStore(redis_client, 900)
    sid = store.create(stored())
    assert 899 <= redis_client.ttl(store.prefix + sid) <= 901


def test_memory_store_purges_expired_sessions():
    clock = TickClock()
    store = MemorySessionStore(ttl=60, clock=clock)
    store.create(stored())
    clock.now += 60
    store.create(stored())  # creating purges the expired one
    assert len(store) == 1
