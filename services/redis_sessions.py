"""Tool sessions in Redis: a hash per session, a sorted set of each user's pending ones, steps as Lua scripts.

A claim is a script, so two racing submits on two hosts cannot both continue; it carries a token, and a save
or release counts only while that token still holds the claim. A claim whose worker died lapses after
`claim_lease` seconds. A save that fails because Redis hiccuped is not thrown away: the worker keeps it and
retries until Redis answers, storing the answer with it, so the caller's retry of the same outputs gets the
paid-for result instead of a session locked for the lease.
"""

import logging
import secrets
import threading
import time

import orjson

from core.errors import ConflictError, NotFoundError, RedisUnavailableError, ServiceUnavailableError
from services.tool_sessions import (
    CLAIM_TOKEN,
    COMPLETED,
    COMPLETED_CONFLICT,
    NOT_FOUND,
    REQUIRES_ACTION,
    RUNNING,
    RUNNING_CONFLICT,
    check_size,
    new_session_id,
    save_or_release,
    serialise,
    too_many,
)

log = logging.getLogger("gateway.tool_sessions")
RETRY_EVERY_S = 0.2

# KEYS: session, owner index. ARGV: id, state, owner, data, expires_at, ttl, now, cap (or -1).
CREATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
if ARGV[2] ~= 'completed' then
  if tonumber(ARGV[8]) >= 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[8]) then
    return {'full', redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]}
  end
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'owner', ARGV[3], 'data', ARGV[4], 'expires_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return {'ok'}
"""

# KEYS: owner index. ARGV: now, cap.
ROOM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {'full', redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]}
end
return {'ok'}
"""

# KEYS: session. ARGV: owner, now, lease, token, fingerprint.
CLAIM = """
local e = redis.call('HMGET', KEYS[1], 'state', 'owner', 'data', 'claimed_at', 'expires_at', 'replay_of', 'replay')
if not e[1] or e[2] ~= ARGV[1] or tonumber(e[5]) <= tonumber(ARGV[2]) then return {'missing'} end
if e[6] and e[6] == ARGV[5] then return {'replay', e[7]} end
if e[1] == 'completed' then return {'completed'} end
if e[1] == 'running' and tonumber(ARGV[2]) - tonumber(e[4] or 0) < tonumber(ARGV[3]) then return {'running'} end
redis.call('HSET', KEYS[1], 'state', 'running', 'claimed_at', ARGV[2], 'claim', ARGV[4])
return {'claimed', e[3]}
"""

# KEYS: session, owner index. ARGV: id, token, state, data, expires_at, ttl, fingerprint, replay ('' for none).
# A write that timed out may still have landed (Redis ran it when it thawed): that one is recognised by its
# token, and only the answer is added.
SAVE = """
local e = redis.call('HMGET', KEYS[1], 'state', 'claim', 'saved_by')
if ARGV[2] ~= '' and e[3] == ARGV[2] then
  if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'replay_of', ARGV[7], 'replay', ARGV[8]) end
  return 'ok'
end
if e[1] ~= 'running' or (ARGV[2] ~= '' and e[2] ~= ARGV[2]) then return 'lost' end
local owner = redis.call('HGET', KEYS[1], 'owner')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'owner', owner, 'data', ARGV[4], 'expires_at', ARGV[5],
  'saved_by', ARGV[2])
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'replay_of', ARGV[7], 'replay', ARGV[8]) end
redis.call('EXPIRE', KEYS[1], ARGV[6])
if ARGV[3] == 'completed' then redis.call('ZREM', KEYS[2], ARGV[1])
else redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1]); redis.call('EXPIRE', KEYS[2], ARGV[6]) end
return 'ok'
"""

# KEYS: session. ARGV: token ('' releases whoever holds it).
RELEASE = """
local e = redis.call('HMGET', KEYS[1], 'state', 'claim')
if e[1] == 'running' and (ARGV[1] == '' or e[2] == ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'requires_action')
end
return 1
"""


class RedisSessionStore:
    """The same atomic steps as MemorySessionStore, in Redis, for any worker or host."""

    backend = "redis"

    def __init__(
        self, client, ttl, claim_lease=300.0, clock=time.time, prefix="gw:tsess:", max_per_user=None, max_bytes=None
    ):
        self.client, self.ttl, self.claim_lease, self.clock, self.prefix = client, ttl, claim_lease, clock, prefix
        self.max_per_user, self.max_bytes = max_per_user, max_bytes
        self._scripts = {name: client.register_script(text) for name, text in _SCRIPTS.items()}
        self._unsaved = {}  # session id -> a step Redis missed, retried until it lands or the session expires
        self._unsaved_lock = threading.Lock()
        self._retrying = None

    def ensure_available(self):
        """Raise a Redis error now if sessions cannot be stored, before a model call is paid for."""
        self.client.ping()

    def check_room(self, owner, session=None):
        """Before a paid model call: 429 when `owner` holds the most pending sessions, 413 for a session too big."""
        if session is not None:
            check_size(serialise(session), self.max_bytes)
        if self.max_per_user is None:
            return self.client.ping()
        outcome = self._scripts["room"](keys=[self._owner_key(owner)], args=[self.clock(), self.max_per_user])
        self._refuse_if_full(outcome)

    def check_size(self, session):
        """413 when `session` has grown past MAX_TOOL_SESSION_BYTES (a submit's outputs, before its model call)."""
        check_size(serialise(session), self.max_bytes)

    def create(self, session):
        """Store a new session (state requires_action or completed, `owner` set); returns its id."""
        if session.get("state") not in (REQUIRES_ACTION, COMPLETED):
            raise ValueError("a new session must be requires_action or completed")
        session_id, state = new_session_id(), session["state"]
        session["expires_at"] = self.clock() + self.ttl
        data = serialise(session)
        check_size(data, self.max_bytes)
        cap = -1 if self.max_per_user is None else self.max_per_user
        keys = [self.prefix + session_id, self._owner_key(session["owner"])]
        args = [session_id, state, session["owner"], data, session["expires_at"], self._ttl_s(), self.clock(), cap]
        self._refuse_if_full(self._scripts["create"](keys=keys, args=args))
        return session_id

    def claim(self, session_id, owner, fingerprint=None):
        """Move the session from requires_action to running and return it; 404 or 409 otherwise.

        When the same outputs were submitted before and that submit's answer was stored late (Redis had
        hiccuped), the answer comes back as `{"replay": answer}` instead: nothing is run or billed again.
        """
        if not isinstance(session_id, str):
            raise NotFoundError(NOT_FOUND)
        self.retry_unsaved()  # a step this worker still holds for the session lands first
        token = secrets.token_hex(8)
        args = [owner, self.clock(), self.claim_lease, token, fingerprint or ""]
        result = self._scripts["claim"](keys=[self.prefix + session_id], args=args)
        outcome = result[0].decode()
        if outcome == "missing":
            raise NotFoundError(NOT_FOUND)
        if outcome == "replay":
            return {"replay": orjson.loads(result[1])}
        if outcome == "completed":
            raise ConflictError(COMPLETED_CONFLICT)
        if outcome == "running":
            raise ConflictError(RUNNING_CONFLICT)
        session = orjson.loads(result[1])
        session["state"], session[CLAIM_TOKEN] = RUNNING, token
        return session

    def settle(self, session_id, session, fingerprint, make_answer):
        """Store a claimed session's new state and return its answer; when Redis does not take it, keep the
        step (with the answer) to retry until it does, and answer 503 so the caller submits the same again."""
        try:
            save_or_release(self, session_id, session)
        except RedisUnavailableError:
            answer = make_answer()
            state = REQUIRES_ACTION if session["pending"] else COMPLETED
            retry = lambda: self._save(session_id, session, state, answer, fingerprint)  # noqa: E731
            self._keep(session_id, session["expires_at"], retry)
            raise ServiceUnavailableError(
                "Shared state (Redis) did not take this submit's result; it is kept: send the same outputs again "
                "shortly to get it",
            ) from None
        return make_answer()

    def save_pending(self, session_id, session):
        """Store the new state of a claimed session that waits for the caller again, and release it."""
        self._save(session_id, session, REQUIRES_ACTION)

    def complete(self, session_id, session):
        """Store the final state of a claimed session; later submits are 409 until it expires."""
        self._save(session_id, session, COMPLETED)

    def release(self, session_id, session=None):
        """Give back a claimed session unchanged (its submit failed), so the caller may submit again.

        When Redis does not answer, the release is retried in the background rather than left to the lease.
        """
        token = (session or {}).get(CLAIM_TOKEN, "")
        step = lambda: self._scripts["release"](keys=[self.prefix + session_id], args=[token])  # noqa: E731
        try:
            step()
        except RedisUnavailableError:
            expires_at = (session or {}).get("expires_at") or self.clock() + self.ttl
            self._keep(session_id, expires_at, step)

    def retry_unsaved(self):
        """Try the steps Redis missed once more; those that land (or whose session expired) are dropped."""
        with self._unsaved_lock:
            waiting = list(self._unsaved.items())
        for session_id, (expires_at, step) in waiting:
            if expires_at > self.clock():
                try:
                    step()
                except RedisUnavailableError:
                    continue
            with self._unsaved_lock:
                if self._unsaved.get(session_id, (None, None))[1] is step:
                    del self._unsaved[session_id]

    def unsaved(self):
        """How many steps wait for Redis to come back."""
        with self._unsaved_lock:
            return len(self._unsaved)

    def _keep(self, session_id, expires_at, step):
        log.warning("tool session step kept for retry: Redis unavailable")
        with self._unsaved_lock:
            self._unsaved[session_id] = (expires_at, step)
            if self._retrying is None or not self._retrying.is_alive():
                self._retrying = threading.Thread(target=self._retry_loop, name="tool-session-retry", daemon=True)
                self._retrying.start()

    def _retry_loop(self):
        while self.unsaved():
            time.sleep(RETRY_EVERY_S)
            self.retry_unsaved()

    def _save(self, session_id, session, state, answer=None, fingerprint=None):
        session["state"], session["expires_at"] = state, self.clock() + self.ttl
        data = serialise(session)
        check_size(data, self.max_bytes)
        replay = orjson.dumps(answer) if answer is not None else b""
        keys = [self.prefix + session_id, self._owner_key(session["owner"])]
        token = session.get(CLAIM_TOKEN, "")
        args = [session_id, token, state, data, session["expires_at"], self._ttl_s(), fingerprint or "", replay]
        if self._scripts["save"](keys=keys, args=args) == b"lost":
            log.warning("tool session save dropped: its claim lapsed and another submit took it")

    def _refuse_if_full(self, outcome):
        if outcome[0] == b"full":
            raise too_many(self.max_per_user, float(outcome[1]) - self.clock())

    def _owner_key(self, owner):
        # Not under `prefix`: a caller's session id must never name another kind of key.
        return f"{self.prefix.rstrip(':')}-owner:{owner}"

    def _ttl_s(self):
        return max(1, int(self.ttl) + 1)  # Redis drops it; the scripts' clock check decides


_SCRIPTS = {"create": CREATE, "room": ROOM, "claim": CLAIM, "save": SAVE, "release": RELEASE}
