"""Name lookups in a gevent worker: kept for a few seconds, and one lookup per name however many ask at once.

gevent's resolver hands every getaddrinfo to its pool of ten native threads. A worker opens a new upstream (or
Redis) connection for each call beyond those it has pooled, so a burst of 1,000 new streams made 1,000
lookups, ten at a time: against a real DNS server each is a network round trip, and on loopback each was a
thread hand-off the burst queued behind. Here a name's answer is kept for TTL_S (aiohttp's default for the same
reason), callers arriving while it is being looked up wait for that one lookup, and a numeric address is
answered at once (the C library parses it without any I/O). Failures are not kept: the next call asks again.
"""

import _socket
import time
from socket import AF_INET, AF_INET6, inet_pton

import gevent
from gevent.resolver.thread import Resolver

TTL_S = 10.0
MAX_NAMES = 256  # the worker talks to a handful of hosts (OpenRouter, Redis, the JWKS); a bound all the same


def is_numeric(host):
    """True for an IPv4 or IPv6 address written out (nothing to look up)."""
    for family in (AF_INET, AF_INET6):
        try:
            inet_pton(family, host)
            return True
        except (OSError, TypeError, ValueError):
            pass
    return False


class CachingResolver(Resolver):
    """gevent's thread resolver, with getaddrinfo answers kept for `ttl` seconds and concurrent lookups merged."""

    def __init__(self, hub=None, ttl=TTL_S, clock=time.monotonic, lookup=None):
        super().__init__(hub)
        self.ttl, self.clock = ttl, clock
        self._lookup = lookup or super().getaddrinfo
        self._answers = {}  # arguments → (expires at, addrinfo list)
        self._pending = {}  # arguments → the greenlet looking them up

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's own names
        """socket.getaddrinfo's answer, from the cache when it is fresh."""
        key = (host, port, family, type, proto, flags)
        if host is None or is_numeric(host):
            return _socket.getaddrinfo(*key)
        kept = self._answers.get(key)
        if kept is not None and kept[0] > self.clock():
            return kept[1]
        # The lookup runs in a greenlet of its own: a caller whose own deadline ends its wait does not end it
        # for the others.
        lookup = self._pending.get(key)
        if lookup is None:
            lookup = self._pending[key] = gevent.spawn(self._resolve, key)
        return lookup.get()

    def _resolve(self, key):
        try:
            answer = self._lookup(*key)
        finally:
            del self._pending[key]
        if len(self._answers) >= MAX_NAMES:
            self._answers.clear()
        self._answers[key] = (self.clock() + self.ttl, answer)
        return answer
