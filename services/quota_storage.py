"""An in-memory moving-window storage for flask-limiter (limits), lean enough for the hot path.

limits' own MemoryStorage starts a timer thread every 10 ms to expire entries and inserts each hit at the front
of a list (O(n) in the window's size); profiling put both on every request's path. This one keeps a deque of
timestamps per key, drops expired ones inline, and sweeps idle keys now and then. One process only, as before.
"""

import threading
import time
from collections import deque

from limits.storage import MovingWindowSupport, Storage

from core.errors import RedisUnavailableError

SWEEP_EVERY_S = 60.0
LEAN_MEMORY = "gateway-memory://"


class LeanMemoryStorage(Storage, MovingWindowSupport):
    """`gateway-memory://`: moving windows (and plain counters) in this process."""

    STORAGE_SCHEME = ["gateway-memory"]

    def __init__(self, uri=None, wrap_exceptions=False, **_):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self._lock = threading.Lock()
        self._windows = {}
        self._counters = {}  # key -> (count, expires_at)
        self._next_sweep = time.time() + SWEEP_EVERY_S

    @property
    def base_exceptions(self):
        return ValueError

    def acquire(self, key, limit, expiry, amount=1):
        """Record `amount` hits if the window has room: (taken, start of the window, hits in it)."""
        now = time.time()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque()
            _expire(window, now - expiry)
            if amount > limit or len(window) + amount > limit:
                return False, (window[0] if window else now), len(window)
            window.extend([now] * amount)
            if now >= self._next_sweep:
                self._sweep(now, expiry)
            return True, window[0], len(window)

    def acquire_entry(self, key, limit, expiry, amount=1):
        """Record `amount` hits if the window has room for them."""
        return self.acquire(key, limit, expiry, amount)[0]

    def get_moving_window(self, key, limit, expiry):
        """(start of the window, hits in it)."""
        now = time.time()
        with self._lock:
            window = self._windows.get(key)
            if not window:
                return now, 0
            _expire(window, now - expiry)
            return (window[0], len(window)) if window else (now, 0)

    def _sweep(self, now, expiry):
        # Drop keys whose every hit has expired, so users who stopped calling do not stay in memory.
        for key in [k for k, w in self._windows.items() if not w or w[-1] <= now - expiry]:
            del self._windows[key]
        for key in [k for k, (_, expires_at) in self._counters.items() if expires_at <= now]:
            del self._counters[key]
        self._next_sweep = now + SWEEP_EVERY_S

    def incr(self, key, expiry, amount=1):
        now = time.time()
        with self._lock:
            count, expires_at = self._counters.get(key, (0, now + expiry))
            if expires_at <= now:
                count, expires_at = 0, now + expiry
            self._counters[key] = (count + amount, expires_at)
            return count + amount

    def get(self, key):
        count, expires_at = self._counters.get(key, (0, 0))
        return count if expires_at > time.time() else 0

    def get_expiry(self, key):
        return self._counters.get(key, (0, time.time()))[1]

    def check(self):
        return True

    def reset(self):
        with self._lock:
            count = len(self._windows) + len(self._counters)
            self._windows.clear()
            self._counters.clear()
            return count

    def clear(self, key):
        with self._lock:
            self._windows.pop(key, None)
            self._counters.pop(key, None)


def _expire(window, cutoff):
    while window and window[0] < cutoff:
        window.popleft()


class RedisQuotaStorage(Storage, MovingWindowSupport):
    """Moving windows in Redis for flask-limiter, one script call per hit, timed by Redis's clock.

    Shares the gateway's Redis client (its breaker, timeouts and pool). `acquire` also returns the window, so
    the rate-limit headers need no second call; `acquire_entry`/`get_moving_window` are limits' interface.
    """

    PREFIX = "gw:window:"  # not limits' `LIMITS:` lists, which keep the newest hit first

    def __init__(self, client):
        from services.redis_admission import RedisAdmission

        super().__init__()
        self.client, self.admission = client, RedisAdmission(client)

    @property
    def base_exceptions(self):
        return RedisUnavailableError  # the guarded client translates redis-py's errors

    def acquire(self, key, limit, expiry, amount=1):
        """(taken, window start on this host's clock, hits in the window)."""
        from services.redis_admission import Window

        outcome = self.admission.admit(window=Window(self.PREFIX + key, limit, expiry, amount))
        return outcome.verdict == "ok", outcome.oldest, outcome.count

    def acquire_entry(self, key, limit, expiry, amount=1):
        return self.acquire(key, limit, expiry, amount)[0]

    def get_moving_window(self, key, limit, expiry):
        _, oldest, count = self.acquire(key, limit, expiry, amount=limit + 1)  # a hit too big to take: a read
        return oldest, count

    def incr(self, key, expiry, amount=1):
        raise NotImplementedError("the gateway's limits use the moving window")

    def get(self, key):
        raise NotImplementedError("the gateway's limits use the moving window")

    def get_expiry(self, key):
        raise NotImplementedError("the gateway's limits use the moving window")

    def check(self):
        return bool(self.client.ping())

    def clear(self, key):
        self.client.delete(self.PREFIX + key)

    def reset(self):
        keys = list(self.client.scan_iter(match=self.PREFIX + "*", count=1000))
        return self.client.delete(*keys) if keys else 0
