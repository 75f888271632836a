"""The lean in-memory moving window: same semantics as limits' MemoryStorage, no timer threads."""

import pytest
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from services import quota_storage
from services.quota_storage import LeanMemoryStorage


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(quota_storage.time, "time", lambda: now[0])
    return now


def test_moving_window_through_limits(clock):
    limiter, limit = MovingWindowRateLimiter(LeanMemoryStorage()), parse("3/minute")
    for _ in range(3):
        assert limiter.hit(limit, "alice")
        clock[0] += 10
    assert not limiter.hit(limit, "alice")  # 3 hits at 1000, 1010, 1020; now 1030
    assert limiter.hit(limit, "bob")
    start, remaining = limiter.get_window_stats(limit, "alice")
    assert (start, remaining) == (1060.0, 0)  # the oldest hit leaves the window at 1060
    clock[0] = 1060.5
    assert limiter.hit(limit, "alice")  # one slot freed, not the whole window (no boundary burst)
    assert not limiter.hit(limit, "alice")


def test_amount_larger_than_limit_and_counts(clock):
    storage = LeanMemoryStorage()
    assert not storage.acquire_entry("k", 2, 60, amount=3)
    assert storage.acquire_entry("k", 2, 60, amount=2)
    assert storage.get_moving_window("k", 2, 60) == (1000.0, 2)
    assert storage.get_moving_window("other", 2, 60) == (1000.0, 0)


def test_idle_keys_are_swept(clock):
    storage = LeanMemoryStorage()
    storage.acquire_entry("idle", 5, 60)
    clock[0] += quota_storage.SWEEP_EVERY_S + 1
    storage.acquire_entry("active", 5, 60)
    assert set(storage._windows) == {"active"}
    assert storage.reset() == 1


def test_fixed_window_counters(clock):
    storage = LeanMemoryStorage()
    assert storage.incr("c", 10) == 1 and storage.incr("c", 10) == 2
    assert storage.get("c") == 2 and storage.get_expiry("c") == 1010.0
    clock[0] += 11
    assert storage.get("c") == 0 and storage.incr("c", 10) == 1
    storage.clear("c")
    assert storage.get("c") == 0 and storage.check()


def test_redis_moving_window_through_limits():
    """The Redis storage keeps limits' moving-window guarantee: a hit frees its place only `expiry` after it."""
    import time

    from services.quota_storage import RedisQuotaStorage
    from services.redis_state import make_redis
    from tests.servers import run_redis

    with run_redis() as (url, _):
        storage = RedisQuotaStorage(make_redis(url))
        limiter, limit = MovingWindowRateLimiter(storage), parse("2 per 2 seconds")
        assert limiter.hit(limit, "alice")
        first = time.time()
        time.sleep(0.6)  # the second hit clearly later than the first
        assert limiter.hit(limit, "alice")
        assert not limiter.hit(limit, "alice")
        assert limiter.hit(limit, "bob")
        reset, remaining = limiter.get_window_stats(limit, "alice")
        assert remaining == 0 and first + 1.9 <= reset <= first + 2.1
        assert not storage.acquire_entry("alice-big", 2, 2, amount=3)
        deadline = time.monotonic() + 5
        while not limiter.hit(limit, "alice"):  # the first hit leaves the window 2 s after it was made
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert time.time() - first >= 1.9
        assert not limiter.hit(limit, "alice")  # only one place came free: no burst across a boundary
        storage.clear(limit.key_for("alice"))
        assert limiter.hit(limit, "alice")
        assert storage.check() and storage.reset() >= 1
