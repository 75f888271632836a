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

    def ensure_available(self):
        """Nothing to check: memory is always there."""

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
            "state": state,
            "owner": session["owner"],
            "expires_at": session["expires_at"],
            "data": data,
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


CLAIM = """
local entry = redis.call('HMGET', KEYS[1], 'state', 'owner', 'data', 'claimed_at', 'expires_at')
if not entry[1] or entry[2] ~= ARGV[1] or tonumber(entry[5]) <= tonumber(ARGV[2]) then return {'missing'} end
if entry[1] == 'completed' then return {'completed'} end
if entry[1] == 'running' and tonumber(ARGV[2]) - tonumber(entry[4] or 0) < tonumber(ARGV[3]) then
  return {'running'}
end
redis.call('HSET', KEYS[1], 'state', 'running', 'claimed_at', ARGV[2])
return {'claimed', entry[3]}
"""

RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'requires_action')
end
return 1
"""


class RedisSessionStore:
    """The same atomic steps in Redis (a hash per session, expiring with TOOL_SESSION_TTL), for any worker or host.

    A claim is a Lua script, so two racing submits on two hosts cannot both continue. A claim whose worker died
    lapses after `claim_lease` seconds, so the session does not stay locked until it expires.
    """

    backend = "redis"

    def __init__(self, client, ttl, claim_lease=300.0, clock=time.time, prefix="gw:tsess:"):
        self.client, self.ttl, self.claim_lease, self.clock, self.prefix = client, ttl, claim_lease, clock, prefix
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)

    def ensure_available(self):
        """Raise a Redis error now if sessions cannot be stored, before a model call is paid for."""
        self.client.ping()

    def create(self, session):
        """Store a new session (state requires_action or completed, `owner` set); returns its id."""
        if session.get("state") not in (REQUIRES_ACTION, COMPLETED):
            raise ValueError("a new session must be requires_action or completed")
        session_id = new_session_id()
        self._put(session_id, session, session["state"])
        return session_id

    def claim(self, session_id, owner):
        """Move the session from requires_action to running and return it; 404 or 409 otherwise."""
        if not isinstance(session_id, str):
            raise NotFoundError(NOT_FOUND)
        result = self._claim(keys=[self.prefix + session_id], args=[owner, self.clock(), self.claim_lease])
        outcome = result[0].decode()
        if outcome == "missing":
            raise NotFoundError(NOT_FOUND)
        if outcome == "completed":
            raise ConflictError("This tool session is completed; start a new one with /tools/invoke")
        if outcome == "running":
            raise ConflictError("Outputs for this tool session are already being submitted")
        session = orjson.loads(result[1])
        session["state"] = RUNNING
        return session

    def save_pending(self, session_id, session):
        """Store the new state of a claimed session that waits for the caller again, and release it."""
        self._put(session_id, session, REQUIRES_ACTION)

    def complete(self, session_id, session):
        """Store the final state of a claimed session; later submits are 409 until it expires."""
        self._put(session_id, session, COMPLETED)

    def release(self, session_id):
        """Give back a claimed session unchanged (its submit failed), so the caller may submit again."""
        self._release(keys=[self.prefix + session_id])

    def _put(self, session_id, session, state):
        session["state"], session["expires_at"] = state, self.clock() + self.ttl
        data = orjson.dumps(session) if state != COMPLETED else b"{}"
        key = self.prefix + session_id
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key, mapping={"state": state, "owner": session["owner"], "data": data, "expires_at": session["expires_at"]}
        )
        pipe.expire(key, max(1, int(self.ttl) + 1))  # Redis drops it; the script's clock check decides
        pipe.execute()
