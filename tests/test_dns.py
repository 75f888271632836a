"""server/dns.py: a gevent worker looks a name up once per TTL, however many connections a burst opens."""

import socket

import gevent
import pytest

from server.dns import CachingResolver, is_numeric

ANSWER = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 443))]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Lookups:
    """A name server that takes a while to answer and counts what it was asked."""

    def __init__(self, fail=False):
        self.asked, self.fail = [], fail

    def __call__(self, *args):
        self.asked.append(args[0])
        gevent.sleep(0.01)
        if self.fail:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ANSWER


@pytest.fixture
def clock():
    return Clock()


def test_a_burst_of_connections_makes_one_lookup_and_all_get_its_answer(clock):
    lookups = Lookups()
    resolver = CachingResolver(ttl=10, clock=clock, lookup=lookups)
    callers = [gevent.spawn(resolver.getaddrinfo, "openrouter.ai", 443, 0, socket.SOCK_STREAM) for _ in range(50)]
    gevent.joinall(callers, raise_error=True)
    assert [caller.value for caller in callers] == [ANSWER] * 50
    assert lookups.asked == ["openrouter.ai"]


def test_an_answer_is_kept_for_the_ttl_then_looked_up_again(clock):
    lookups = Lookups()
    resolver = CachingResolver(ttl=10, clock=clock, lookup=lookups)
    assert resolver.getaddrinfo("openrouter.ai", 443) == ANSWER
    clock.now += 9.9
    assert resolver.getaddrinfo("openrouter.ai", 443) == ANSWER
    assert resolver.getaddrinfo("openrouter.ai", 80) == ANSWER  # another port is another question
    assert lookups.asked == ["openrouter.ai", "openrouter.ai"]
    clock.now += 0.2
    resolver.getaddrinfo("openrouter.ai", 443)
    assert lookups.asked == ["openrouter.ai"] * 3


def test_a_failure_reaches_every_waiter_and_is_not_kept(clock):
    lookups = Lookups(fail=True)
    resolver = CachingResolver(ttl=10, clock=clock, lookup=lookups)
    callers = [gevent.spawn(resolver.getaddrinfo, "no-such-host.invalid", 443) for _ in range(5)]
    gevent.joinall(callers)
    assert all(isinstance(caller.exception, socket.gaierror) for caller in callers)
    assert lookups.asked == ["no-such-host.invalid"]
    lookups.fail = False
    assert resolver.getaddrinfo("no-such-host.invalid", 443) == ANSWER  # asked again, not a kept failure
    assert len(lookups.asked) == 2


def test_a_caller_whose_wait_times_out_does_not_end_the_lookup_for_the_others(clock):
    lookups = Lookups()
    resolver = CachingResolver(ttl=10, clock=clock, lookup=lookups)
    impatient = gevent.spawn(lambda: gevent.with_timeout(0.001, resolver.getaddrinfo, "a.example", 443))
    patient = gevent.spawn(resolver.getaddrinfo, "a.example", 443)
    gevent.joinall([impatient, patient])
    assert isinstance(impatient.exception, gevent.Timeout)
    assert patient.value == ANSWER
    assert lookups.asked == ["a.example"]


def test_numeric_addresses_are_answered_without_a_lookup(clock):
    lookups = Lookups()
    resolver = CachingResolver(ttl=10, clock=clock, lookup=lookups)
    ((family, _, _, _, address),) = resolver.getaddrinfo("127.0.0.1", 6379, 0, socket.SOCK_STREAM)
    assert (family, address) == (socket.AF_INET, ("127.0.0.1", 6379))
    ((family, _, _, _, address),) = resolver.getaddrinfo("::1", 443, 0, socket.SOCK_STREAM)
    assert (family, address[:2]) == (socket.AF_INET6, ("::1", 443))
    assert lookups.asked == []


@pytest.mark.parametrize(
    ("host", "numeric"),
    [("127.0.0.1", True), ("::1", True), ("fe80::1", True), ("openrouter.ai", False), ("1.2.3", False), ("", False)],
)
def test_is_numeric(host, numeric):
    assert is_numeric(host) is numeric


def test_the_thread_pool_resolves_a_real_name_once(clock):
    resolver = CachingResolver(ttl=10, clock=clock)  # gevent's own thread pool behind it
    first = resolver.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert ("127.0.0.1", 80) in [entry[4] for entry in first]
    assert resolver.getaddrinfo("localhost", 80, socket.AF_INET, socket.SOCK_STREAM) is first
