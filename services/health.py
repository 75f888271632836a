"""Readiness checks that never make a probe wait: OpenRouter is checked in the background, cached."""

import threading
import time
from urllib.parse import urlsplit

from core.errors import ApiError

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def is_loopback(url):
    """True when the upstream base URL points at this machine (the bundled stand-in, usually)."""
    host = urlsplit(url).hostname or ""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class UpstreamProbe:
    """OpenRouter's `GET /key`, at most once per `interval` seconds, by one background thread at a time."""

    def __init__(self, client, interval=30.0, timeout=3.0, clock=time.monotonic):
        self.client, self.interval, self.timeout, self.clock = client, interval, timeout, clock
        self._lock = threading.Lock()
        self._checked_at = None
        self._result = {"status": "unknown", "detail": "not checked yet"}

    def status(self):
        """The last known upstream state; starts a refresh in the background when it is stale."""
        base = {"base_url_is_loopback": is_loopback(self.client.base_url)}
        if not self.client.api_key:
            return {**base, "status": "degraded", "detail": "OPENROUTER_API_KEY is not configured"}
        stale = self._checked_at is None or self.clock() - self._checked_at >= self.interval
        if stale and self._lock.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="upstream-probe", daemon=True).start()
        age = None if self._checked_at is None else round(self.clock() - self._checked_at, 1)
        return {**base, **self._result, "checked_s_ago": age}

    def _refresh(self):
        try:
            self.client.get_json("/key", timeout=(self.timeout, self.timeout), attempts=1)
            self._result = {"status": "ok"}
        except ApiError as exc:
            self._result = {"status": "degraded", "detail": exc.message}
        except Exception as exc:  # a probe must never take the process down
            self._result = {"status": "degraded", "detail": type(exc).__name__}
        finally:
            self._checked_at = self.clock()
            self._lock.release()

    def wait_idle(self, timeout=5.0):
        """Block until no refresh is running (for tests)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False
