"""Small shared helpers: JSON codec, ids, error envelopes, records."""

import random
import string
import time

try:
    import orjson

    def dumps(obj) -> bytes:
        """Serialise obj to compact JSON bytes."""
        return orjson.dumps(obj)

    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - the project venv has orjson
    import json

    def dumps(obj) -> bytes:
        """Serialise obj to compact JSON bytes."""
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads
    JSONDecodeError = ValueError

USER_ID = "user_mock"
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def gen_id() -> str:
    """Return a generation id shaped like OpenRouter's: gen-<unix>-<20 alnum>."""
    return f"gen-{int(time.time())}-{''.join(random.choices(_ALNUM, k=20))}"


def call_id() -> str:
    """Return a tool call id: call_<24 hex>."""
    return "call_" + "".join(random.choices(_HEX, k=24))


def error_body(code, message, metadata=None, user_id=True) -> dict:
    """Build OpenRouter's error envelope."""
    err = {"code": code, "message": message}
    if metadata is not None:
        err["metadata"] = metadata
    body = {"error": err}
    if user_id:
        body["user_id"] = USER_ID
    return body


class Headers(dict):
    """A dict of request headers (original case) with case-insensitive lookups."""

    def __init__(self, items=()):
        super().__init__(items)
        self._lower = {k.lower(): k for k in self}

    def _key(self, key):
        return self._lower.get(key.lower(), key) if isinstance(key, str) else key

    def __getitem__(self, key):
        return super().__getitem__(self._key(key))

    def __contains__(self, key):
        return super().__contains__(self._key(key))

    def get(self, key, default=None):
        """Case-insensitive get."""
        return super().get(self._key(key), default)


class Record(dict):
    """One recorded request: a dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def public(self) -> dict:
        """Return a JSON-friendly copy without the raw body."""
        out = {k: v for k, v in self.items() if k not in ("raw", "events")}
        out["headers"] = dict(self["headers"])
        out["events"] = [[t, ev.decode("utf-8", "replace")] for t, ev in self["events"]]
        return out
