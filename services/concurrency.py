"""How many calls each user has in flight: the per-user concurrency cap's counters."""

import threading


class LocalConcurrency:
    """In-process counters; correct for one worker process (Redis holds them when several share work)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = {}

    def acquire(self, key, limit):
        """Take a slot for `key` if fewer than `limit` are held; True when taken."""
        with self._lock:
            held = self._counts.get(key, 0)
            if held >= limit:
                return False
            self._counts[key] = held + 1
            return True

    def release(self, key):
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
