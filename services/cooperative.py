"""Letting other calls run during a long CPU step: under a gevent worker one greenlet's CPU stalls them all."""

import sys

_patched = None
# sleep(0) only runs greenlets already due, before the loop polls sockets again; a timer, however short,
# lets the loop read what arrived, so a waiting stream relays its event.
YIELD_S = 0.001
# A JSON parse or encoding of this many bytes takes a few milliseconds: after one, let the others run, so that
# two such steps in a row (a media body parsed, then encoded for OpenRouter) never add up to one long stall.
BIG_STEP_BYTES = 1024 * 1024


def under_gevent():
    """True in a gevent worker (the standard library monkey-patched), False in threads and tests."""
    global _patched
    if _patched is None:
        monkey = sys.modules.get("gevent.monkey")
        _patched = bool(monkey and monkey.is_module_patched("socket"))
    return _patched


def cooperate():
    """A point where a long step lets the worker's other greenlets (streams, probes) run."""
    if under_gevent():
        from gevent import sleep

        sleep(YIELD_S)


def after_big(data):
    """`data`, after letting the others run when it was a long step to make (see BIG_STEP_BYTES)."""
    if len(data) > BIG_STEP_BYTES:
        cooperate()
    return data


def in_slices(data, size):
    """`data` in slices of `size`, yielding to other greenlets between them."""
    for start in range(0, len(data), size):
        if start:
            cooperate()
        yield data[start : start + size]
