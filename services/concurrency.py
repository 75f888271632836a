"""How many calls each user has in flight (the per-user concurrency cap), and the call that holds a slot."""

import logging
import threading
import time
import uuid

from core.errors import RedisUnavailableError

log = logging.getLogger("gateway.quotas")


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


class RedisConcurrency:
    """Slots shared by every worker and host: a sorted set per user, one member per call, scored by its lease.

    A lease (`lease` seconds, on Redis's clock) frees the slot of a worker or host that died mid-call; streams
    renew theirs while they run. Taking a slot is part of the admission script (services/redis_admission.py).
    """

    def __init__(self, client, lease, prefix="gw:inflight:"):
        from services.redis_admission import RedisAdmission, Slot

        self.client, self.lease, self.prefix = client, lease, prefix
        self.admission, self._slot = RedisAdmission(client), Slot

    def slot(self, key, limit):
        """A new slot request for `key` (not yet taken)."""
        return self._slot(self.prefix + key, limit, uuid.uuid4().hex, self.lease)

    def acquire(self, key, limit):
        """Atomically take a slot if fewer than `limit` are held; a token to release, or None."""
        slot = self.slot(key, limit)
        return slot.token if self.admission.admit(slot=slot).verdict == "ok" else None

    def release(self, key, token, pipe=None):
        """Give back the slot `token` (queued on `pipe` when given)."""
        (pipe or self.client).zrem(self.prefix + key, token)

    def renew(self, key, token):
        """Extend a running call's lease."""
        return self.admission.renew(self.prefix + key, token, self.lease)

    def held(self, key):
        """Slots `key` holds now."""
        return self.admission.held(self.prefix + key)


class CallTicket:
    """One admitted call: its slot (or none) and the usage its model calls ran up, settled once at the end.

    Settling gives the slot back and records the usage together: one Redis script, one round trip. It runs
    when the answer's body is ready (before the client has the last byte), or when the response closes.
    """

    def __init__(self, slots, usage, user, token, renew_every=None, tier=None):
        self.slots, self.usage, self.user, self.token, self.tier = slots, usage, user, token, tier
        self.pending, self.settled = [], False
        self.renew_every, self._renewed = renew_every, time.monotonic()

    def add_usage(self, model, usage):
        """Count one model call; written when the ticket settles."""
        self.pending.append((model, usage))

    def keep_alive(self):
        """Renew the slot's lease now and then while a long stream runs (one round trip a third of a lease)."""
        if self.token is None or self.renew_every is None or self.settled:
            return
        if time.monotonic() - self._renewed >= self.renew_every:
            self._renewed = time.monotonic()
            try:
                self.slots.renew(self.user, self.token)
            except RedisUnavailableError:
                log.warning("could not renew a concurrency slot: Redis unavailable")

    def settle(self):
        """Release the slot and record the usage, once; Redis trouble is logged, the answer is paid for."""
        if self.settled:
            return
        self.settled = True
        try:
            self._write()
        except RedisUnavailableError:
            log.warning("usage or slot release not written: Redis unavailable; the slot expires by itself")

    def _write(self):
        if not hasattr(self.usage, "client"):  # in memory: no round trips to save
            for model, usage in self.pending:
                self.usage.record(self.user, model, usage, tier=self.tier)
            if self.token is not None:
                self.slots.release(self.user, self.token)
            return
        if not self.pending:  # no model call was made (a refusal after admission, or an error)
            if self.token is not None:
                self.slots.release(self.user, self.token)
            return
        rows = [self.usage.row(model, usage) for model, usage in self.pending]
        slot_key = self.slots.prefix + self.user
        day_key, users_key = self.usage.day_key(self.user), self.usage.users_key()
        self.slots.admission.settle(
            slot_key, self.token, day_key, rows, self.usage.keep_s, users_key, self.user, self.tier
        )
