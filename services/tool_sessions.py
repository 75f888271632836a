"""Tool sessions: conversations waiting for a caller's function outputs, stored as JSON, stepped atomically."""

import secrets
import threading
import time

import orjson

from errors import ConflictError, NotFoundError

REQUIRES_ACTION, RUNNING, COMPLETED = "requires_action", "running", "completed"
NOT_FOUND = "No such tool session (unknown, expired, or not yours)"


def new_session_id():
    """An unguessable session id: knowing it is not enough (the owner is checked too), but it must not leak."""
    return "tsess_" + secrets.token_urlsafe(24)


class MemorySessionStore:
    """Sessions of this process under one lock; expired entries are purged lazily.

    Every step is atomic, so a shared implementation (Redis) fits the same interface:
    `create` → `claim` (requires_action → running) → `save_pending` | `complete` | `release`.
    Sessions are plain JSON-serialisable dicts; the store owns their `state`, `owner` check and `expires_at`;
    a completed session is kept only as a tombstone (owner, state, expiry) so that submits get 409, not 404.
    """

    backend = "memory"

    def __init__(self, ttl, clock=time.time):
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()
        self._entries = {}  # id -> {"state", "owner", "expires_at", "data": JSON bytes}

    def create(self, session):
        """Store a new session (state requires_action or completed, `owner` set); returns its id."""
        if session.get("state") not in (REQUIRES_ACTION, COMPLETED):
            raise ValueError("a new session must be requires_action or completed")
        session_id = new_session_id()
        with self._lock:
            self._purge()
            self._put(session_id, session, session["state"])
        return session_id

    def claim(self, session_id, owner):
        """Move the session from requires_action to running and return it; 404 or 409 otherwise."""
        with self._lock:
            entry = self._live(session_id)
            if entry is None or entry["owner"] != owner:
                raise NotFoundError(NOT_FOUND)
            if entry["state"] == COMPLETED:
                raise ConflictError("This tool session is completed; start a new one with /tools/invoke")
            if entry["state"] == RUNNING:
                raise ConflictError("Outputs for this tool session are already being submitted")
            entry["state"] = RUNNING
            session = orjson.loads(entry["data"])
        session["state"] = RUNNING
        return session

    def save_pending(self, session_id, session):
        """Store the new state of a claimed session that waits for the caller again, and release it."""
        with self._lock:
            self._put(session_id, session, REQUIRES_ACTION)

    def complete(self, session_id, session):
        """Store the final state of a claimed session; later submits are 409 until it expires."""
        with self._lock:
            self._put(session_id, session, COMPLETED)

    def release(self, session_id):
        """Give back a claimed session unchanged (its submit failed), so the caller may submit again."""
        with self._lock:
            entry = self._live(session_id)
            if entry is not None and entry["state"] == RUNNING:
                entry["state"] = REQUIRES_ACTION

    def _put(self, session_id, session, state):
        # Each write renews the lease: a session lives TOOL_SESSION_TTL seconds after its last step.
        session["state"], session["expires_at"] = state, self.clock() + self.ttl
        # A completed session is never read again (claim answers 409), so its conversation is not kept.
        data = orjson.dumps(session) if state != COMPLETED else b"{}"
        self._entries[session_id] = {
            "state": state, "owner": session["owner"], "expires_at": session["expires_at"], "data": data,
        }

    def _live(self, session_id):
        entry = self._entries.get(session_id) if isinstance(session_id, str) else None
        if entry is not None and entry["expires_at"] <= self.clock():
            del self._entries[session_id]
            return None
        return entry

    def _purge(self):
        now = self.clock()
        for session_id in [key for key, entry in self._entries.items() if entry["expires_at"] <= now]:
            del self._entries[session_id]

    def __len__(self):
        """Sessions held, expired ones included until purged."""
        with self._lock:
            return len(self._entries)
