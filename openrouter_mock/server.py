"""MockOpenRouter: a loopback HTTP server speaking OpenRouter's wire format, with recording and faults."""

import collections
import contextlib
import inspect
import socket
import threading
import time
from http.server import ThreadingHTTPServer

from .handler import Handler
from .wire import Record

DEFAULT_CONFIG = {"models_fault": None, "models_delay_ms": 0, "key_fault": None, "key_delay_ms": 0}
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_ALLOWED = {"models_fault": (None, "500", "drop", "invalid-json"), "key_fault": (None, "401", "500")}


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with daemon threads and a back-reference to the mock."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class MockOpenRouter:
    """An OpenRouter stand-in: start(), point a client at .url, inspect .requests, stop()."""

    silence_s = 60.0

    def __init__(self, api_key="sk-or-v1-test", host="127.0.0.1", port=0, max_records=None):
        self.api_key = api_key  # None accepts any non-empty Bearer key
        self.host, self.port = host, port
        self._records = collections.deque(maxlen=max_records)
        self._cond = threading.Condition(threading.RLock())
        self._config = dict(DEFAULT_CONFIG)
        self._conns = set()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        """Bind (port 0 picks a free port) and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), Handler)
        self._server.mock = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"openrouter-mock-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close every open connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root, e.g. http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenRouter API base, e.g. http://127.0.0.1:PORT/api/v1."""
        return self.base_url + "/api/v1"

    # ------------------------------------------------------------------ records
    @property
    def requests(self) -> list:
        """A snapshot list of the recorded requests (oldest first)."""
        with self._cond:
            return list(self._records)

    def hits(self, path_suffix: str = "") -> int:
        """How many recorded requests have a path ending with path_suffix."""
        with self._cond:
            return sum(1 for r in self._records if r["path"].endswith(path_suffix))

    def last(self, path_suffix: str = ""):
        """The most recent record whose path ends with path_suffix, or None."""
        with self._cond:
            return next((r for r in reversed(self._records) if r["path"].endswith(path_suffix)), None)

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Block until predicate() -- or predicate(records) if it takes an argument -- is true; False on timeout."""
        try:
            params = inspect.signature(predicate).parameters.values()
            wants_records = any(p.default is p.empty and p.kind in _POSITIONAL for p in params)
        except (TypeError, ValueError):
            wants_records = False
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(list(self._records)) if wants_records else predicate():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def reset(self):
        """Forget recorded requests and restore the default configuration."""
        with self._cond:
            self._records.clear()
            self._config = dict(DEFAULT_CONFIG)
            self._cond.notify_all()

    # ------------------------------------------------------------------ config
    def configure(self, **changes):
        """Update runtime faults: models_fault, models_delay_ms, key_fault, key_delay_ms (only keys given)."""
        for key, value in changes.items():
            if key not in DEFAULT_CONFIG:
                raise TypeError(f"unknown config key {key!r}; expected one of {sorted(DEFAULT_CONFIG)}")
            if key in _ALLOWED:
                value = None if value is None else str(value)
                if value not in _ALLOWED[key]:
                    raise ValueError(f"{key} must be one of {_ALLOWED[key]}")
            elif not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
        with self._cond:
            self._config = dict(self._config, **changes)
            self._cond.notify_all()

    @property
    def config(self) -> dict:
        """A copy of the runtime configuration."""
        return dict(self._config)

    # ------------------------------------------------------------------ used by the handler
    def _record(self, method, path, query, headers, body, raw) -> Record:
        rec = Record(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            raw=raw,
            received_at=time.time(),
            status=None,
            model=None,
            stream=False,
            events=[],
            client_disconnected=False,
            finished=False,
        )
        with self._cond:
            self._records.append(rec)
            self._cond.notify_all()
        return rec

    def _touch(self):
        with self._cond:
            self._cond.notify_all()

    def _track(self, conn, opened: bool):
        with self._cond:
            if opened:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)
