"""Everything decided before an upstream call, in one Redis round trip, timed by Redis's own clock.

One Lua script checks and takes, atomically: the route's moving window (rate limit), the daily budget, and a
concurrency slot. Each part is optional, so the same script serves flask-limiter's plain hit (window only) and
a route without a rate limit (budget and slot only). Every timestamp comes from `redis.call('TIME')`, so hosts
whose clocks disagree still share one exact window; what the script returns is in Redis's clock and `now`
lets the caller translate it to its own.

The window is a list of hit times, oldest first: expired hits are popped from the head (amortised O(1)), its
length is the count and its head the oldest hit, so the window's start comes back with the decision instead
of costing flask-limiter a second script for its headers. A hit only leaves the window `expiry` seconds after
it was made, so no burst across a boundary passes twice the limit.
"""

import time
from dataclasses import dataclass

ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stamp = string.format('%.6f', now)
local count, oldest = 0, stamp
if ARGV[1] ~= '' then
  local limit, expiry, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
  local cutoff = now - expiry
  while true do
    local head = redis.call('LINDEX', KEYS[1], 0)
    if not head or tonumber(head) >= cutoff then oldest = head or stamp break end
    redis.call('LPOP', KEYS[1])
  end
  count = redis.call('LLEN', KEYS[1])
  if amount > limit or count + amount > limit then return {'window', oldest, count, stamp} end
end
if ARGV[7] ~= '' then
  local spent, fields = 0, redis.call('HGETALL', KEYS[3])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], -5) == '|cost' then spent = spent + tonumber(fields[i + 1]) end
  end
  if spent >= tonumber(ARGV[7]) then return {'budget', oldest, count, stamp} end
end
if ARGV[4] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return {'busy', oldest, count, stamp} end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[6])))
end
if ARGV[1] ~= '' then
  for _ = 1, tonumber(ARGV[3]) do redis.call('RPUSH', KEYS[1], stamp) end
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
  count = count + tonumber(ARGV[3])
  oldest = redis.call('LINDEX', KEYS[1], 0)
end
return {'ok', oldest, count, stamp}
"""

# A lease is extended only if it is still held: a slot already released (or expired) is not brought back.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""

# After the call: give the slot back and add each model call's usage to the user's day (`model|field` counters),
# in one command sent without waiting for its reply (CLIENT REPLY SKIP), so settling costs no round trip. It is
# sent as EVAL, not EVALSHA: a reply-less NOSCRIPT (Redis restarted) would go unseen; EVAL loads it again.
SETTLE = """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
local rows = (#ARGV - 4) / 5
for i = 0, rows - 1 do
  local at = 5 + i * 5
  local model = ARGV[at]
  redis.call('HINCRBY', KEYS[2], model .. '|requests', ARGV[at + 1])
  redis.call('HINCRBY', KEYS[2], model .. '|prompt_tokens', ARGV[at + 2])
  redis.call('HINCRBY', KEYS[2], model .. '|completion_tokens', ARGV[at + 3])
  redis.call('HINCRBYFLOAT', KEYS[2], model .. '|cost', ARGV[at + 4])
end
if rows > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
  else
    redis.call('HSETNX', KEYS[3], ARGV[3], '')
  end
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return rows
"""

HELD = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(t[1]) + tonumber(t[2]) / 1000000)
return redis.call('ZCARD', KEYS[1])
"""


UNUSED = "gw:unused"


@dataclass
class Window:
    """A moving-window check: flask-limiter's key, limit, expiry (s) and cost."""

    key: str
    limit: int
    expiry: int
    amount: int = 1


@dataclass
class Slot:
    """A concurrency slot: the user's sorted set, the cap, this call's token and its lease (s)."""

    key: str
    limit: int
    token: str
    lease: float


@dataclass
class Outcome:
    """What the script decided: `ok`, or the first refusal (`window`, `budget`, `busy`), and the window.

    `oldest` (the window's start) is translated to this host's clock; `count` includes this hit when ok.
    """

    verdict: str
    oldest: float
    count: int


class RedisAdmission:
    """The admission script on one Redis client (its breaker and pool included)."""

    def __init__(self, client):
        self.client = client
        self._admit = client.register_script(ADMIT)
        self._renew = client.register_script(RENEW)
        self._held = client.register_script(HELD)

    def admit(self, window=None, slot=None, budget_key="", budget=None):
        """Check and take what is given, atomically, in one round trip."""
        # An unused key still names one in the gateway's namespace (an ACL user may touch only `gw:*`).
        keys = [
            window.key if window else UNUSED,
            slot.key if slot else UNUSED,
            budget_key if budget is not None else UNUSED,
        ]
        args = [
            *((window.limit, window.expiry, window.amount) if window else ("", "", "")),
            *((slot.limit, slot.token, slot.lease) if slot else ("", "", "")),
            repr(float(budget)) if budget is not None else "",
        ]
        verdict, oldest, count, now = self.client.run_script(self._admit, keys, args)
        offset = time.time() - float(now)  # Redis's clock → this host's, for headers and Retry-After
        return Outcome(verdict.decode() if isinstance(verdict, bytes) else verdict, float(oldest) + offset, count)

    def settle(self, slot_key, token, usage_key, rows, keep_s, users_key=UNUSED, sub="", tier=None):
        """Release `token` (when not None), add `rows` of (model, requests, prompt, completion, cost), and note
        `sub`'s tier in the day's users hash (the admin summary's list)."""
        args = [token or "", keep_s, sub, tier or ""]
        for row in rows:
            args.extend(row)
        keys = [slot_key, usage_key if rows else UNUSED, users_key if rows else UNUSED]
        self.client.send_without_reply("EVAL", SETTLE, len(keys), *keys, *args)

    def renew(self, key, token, lease):
        """Extend a held slot's lease (long streams); False when it is no longer held."""
        return bool(self.client.run_script(self._renew, [key], [token, lease]))

    def held(self, key):
        """Slots whose lease has not run out."""
        return int(self.client.run_script(self._held, [key], []))
