"""Tool sessions: conversations waiting for a caller's function outputs, stored as JSON, stepped atomically.

Both stores (this module's in-memory one, `services.redis_sessions` for several workers) bound what one user
may hold: at most `max_per_user` pending sessions (MAX_TOOL_SESSIONS_PER_USER) of at most `max_bytes` each
(MAX_TOOL_SESSION_BYTES), checked before a model call is paid for and again, atomically, when stored.
"""

import secrets
import threading
import time

import orjson

from core.errors import ConflictError, NotFoundError, RateLimitError, RequestTooLargeError

REQUIRES_ACTION, RUNNING, COMPLETED = "requires_action", "running", "completed"
NOT_FOUND = "No such tool session (unknown, expired, or not yours)"
COMPLETED_CONFLICT = "This tool session is completed; start a new one with /tools/invoke"
RUNNING_CONFLICT = "Outputs for this tool session are already being submitted"
CLAIM_TOKEN = "claim_token"  # set on a claimed session while it is in a worker's hands; never stored


def new_session_id():
    """An unguessable session id: knowing it is not enough (the owner is checked too), but it must not leak."""
    return "tsess_" + secrets.token_urlsafe(24)


def serialise(session):
    """The stored form of a session: JSON without the claim token (a completed one keeps nothing)."""
    if session.get("state") == COMPLETED:
        return b"{}"  # a completed session is never read again (claim answers 409)
    return orjson.dumps({key: value for key, value in session.items() if key != CLAIM_TOKEN})


def too_many(cap, retry_after):
    """The 429 of a user who already holds `cap` pending sessions."""
    return RateLimitError(
        f"Too many pending tool sessions: at most {cap} per user (MAX_TOOL_SESSIONS_PER_USER); "
        "submit the outputs of one, or let one expire, before starting another",
        retry_after=retry_after,
    )


def check_size(data, cap):
    """413 when a session's stored form is over `cap` bytes (MAX_TOOL_SESSION_BYTES)."""
    if cap is not None and len(data) > cap:
        raise RequestTooLargeError(
            f"This tool session would hold {len(data)} bytes; at most {cap} (MAX_TOOL_SESSION_BYTES) are kept "
            "per session: send less content, or start a new session"
        )


def save_or_release(store, session_id, session):
    """Store a claimed session's new state; one grown past the size cap is released unchanged instead (413)."""
    try:
        (store.save_pending if session["pending"] else store.complete)(session_id, session)
    except RequestTooLargeError:
        store.release(session_id, session)
        raise


class MemorySessionStore:
    """Sessions of this process under one lock; expired entries are purged lazily.

    Every step is atomic, so a shared implementation (Redis) fits the same interface:
    `check_room` → `create` → `claim` (requires_action → running) → `settle` (or `save_pending` | `complete`)
    | `release`. Sessions are plain JSON-serialisable dicts; the store owns their `state`, `owner` check and
    `expires_at`; a completed session is kept only as a tombstone (owner, state, expiry) so that submits get
    409, not 404.
    """

    backend = "memory"

    def __init__(self, ttl, clock=time.time, max_per_user=None, max_bytes=None):
        self.ttl, self.clock, self.max_per_user, self.max_bytes = ttl, clock, max_per_user, max_bytes
        self._lock = threading.Lock()
        self._entries = {}  # id -> {"state", "owner", "expires_at", "data": JSON bytes}
        self._pending = {}  # owner -> {id: expires_at} of sessions not completed

    def ensure_available(self):
        """Nothing to check: memory is always there."""

    def check_room(self, owner, session=None):
        """Before a paid model call: 429 when `owner` holds the most pending sessions, 413 for a session too big."""
        if session is not None:
            check_size(serialise(session), self.max_bytes)
        with self._lock:
            self._purge()
            self._refuse_if_full(owner)

    def check_size(self, session):
        """413 when `session` has grown past MAX_TOOL_SESSION_BYTES (a submit's outputs, before its model call)."""
        check_size(serialise(session), self.max_bytes)

    def create(self, session):
        """Store a new session (state requires_action or completed, `owner` set); returns its id."""
        if session.get("state") not in (REQUIRES_ACTION, COMPLETED):
            raise ValueError("a new session must be requires_action or completed")
        session_id = new_session_id()
        with self._lock:
            self._purge()
            if session["state"] == REQUIRES_ACTION:
                self._refuse_if_full(session["owner"])
            self._put(session_id, session, session["state"])
        return session_id

    def claim(self, session_id, owner, fingerprint=None):
        """Move the session from requires_action to running and return it; 404 or 409 otherwise."""
        with self._lock:
            entry = self._live(session_id)
            if entry is None or entry["owner"] != owner:
                raise NotFoundError(NOT_FOUND)
            if entry["state"] == COMPLETED:
                raise ConflictError(COMPLETED_CONFLICT)
            if entry["state"] == RUNNING:
                raise ConflictError(RUNNING_CONFLICT)
            entry["state"] = RUNNING
            session = orjson.loads(entry["data"])
        session["state"] = RUNNING
        return session

    def settle(self, session_id, session, fingerprint, make_answer):
        """Store a claimed session's new state (pending again, or completed) and return its answer."""
        save_or_release(self, session_id, session)
        return make_answer()

    def save_pending(self, session_id, session):
        """Store the new state of a claimed session that waits for the caller again, and release it."""
        with self._lock:
            self._put(session_id, session, REQUIRES_ACTION)

    def complete(self, session_id, session):
        """Store the final state of a claimed session; later submits are 409 until it expires."""
        with self._lock:
            self._put(session_id, session, COMPLETED)

    def release(self, session_id, session=None):
        """Give back a claimed session unchanged (its submit failed), so the caller may submit again."""
        with self._lock:
            entry = self._live(session_id)
            if entry is not None and entry["state"] == RUNNING:
                entry["state"] = REQUIRES_ACTION

    def _refuse_if_full(self, owner):
        held = self._pending.get(owner) or {}
        if self.max_per_user is not None and len(held) >= self.max_per_user:
            raise too_many(self.max_per_user, min(held.values()) - self.clock())

    def _put(self, session_id, session, state):
        # Each write renews the lease: a session lives TOOL_SESSION_TTL seconds after its last step.
        session["state"], session["expires_at"] = state, self.clock() + self.ttl
        data = serialise(session)
        check_size(data, self.max_bytes)
        owner = session["owner"]
        self._entries[session_id] = {"state": state, "owner": owner, "expires_at": session["expires_at"], "data": data}
        held = self._pending.setdefault(owner, {})
        if state == COMPLETED:
            held.pop(session_id, None)
        else:
            held[session_id] = session["expires_at"]
        if not held:
            del self._pending[owner]

    def _live(self, session_id):
        entry = self._entries.get(session_id) if isinstance(session_id, str) else None
        if entry is not None and entry["expires_at"] <= self.clock():
            self._forget(session_id)
            return None
        return entry

    def _purge(self):
        now = self.clock()
        for session_id in [key for key, entry in self._entries.items() if entry["expires_at"] <= now]:
            self._forget(session_id)

    def _forget(self, session_id):
        entry = self._entries.pop(session_id)
        held = self._pending.get(entry["owner"])
        if held is not None:
            held.pop(session_id, None)
            if not held:
                del self._pending[entry["owner"]]

    def __len__(self):
        """Sessions held, expired ones included until purged."""
        with self._lock:
            return len(self._entries)
