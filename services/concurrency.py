"""How many calls each user has in flight: the per-user concurrency cap's slots."""

import threading
import time
import uuid

# A slot left by a crashed worker frees itself after this long (a stream can outlive any single timeout).
STALE_SLOT_S = 3600


class LocalConcurrency:
    """In-process slots; correct for one worker process (Redis holds them when several share work)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}

    def acquire(self, key, limit):
        """Take a slot for `key` if fewer than `limit` are held; a token to release, or None."""
        with self._lock:
            held = self._counts.get(key, 0)
            if held >= limit:
                return None
            self._counts[key] = held + 1
            return True

    def release(self, key, token):
        """Give back a slot taken by `acquire`."""
        with self._lock:
            held = self._counts.get(key, 0) - 1
            if held > 0:
                self._counts[key] = held
            else:
                self._counts.pop(key, None)

    def held(self, key):
        """Slots `key` holds now."""
        with self._lock:
            return self._counts.get(key, 0)


ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisConcurrency:
    """Slots shared by every worker and host: a sorted set per user, one member per call in flight."""

    def __init__(self, client, prefix="gw:inflight:"):
        self.client, self.prefix = client, prefix
        self._acquire = client.register_script(ACQUIRE)

    def acquire(self, key, limit):
        """Atomically take a slot if fewer than `limit` are held; a token to release, or None."""
        token = uuid.uuid4().hex
        taken = self._acquire(keys=[self.prefix + key], args=[time.time(), limit, STALE_SLOT_S, token])
        return token if taken else None

    def release(self, key, token):
        """Give back the slot `token`."""
        self.client.zrem(self.prefix + key, token)

    def held(self, key):
        """Slots `key` holds now."""
        return self.client.zcard(self.prefix + key)
