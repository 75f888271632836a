"""Is a socket readable right now? One real poll(2) of zero timeout, under gevent too.

Under gevent, `select.poll` and `select.select` go through the hub (watchers, a switch, a loop turn): urllib3 and
redis-py ask this before every reuse of a pooled connection, and the relay asks it of its client, so at
thousands of calls a second that was a tenth of a worker's CPU. The unpatched poll only asks the kernel.
"""

from select import POLLIN

try:
    from gevent.monkey import get_original

    _poll = get_original("select", "poll")
except ImportError:  # pragma: no cover - gevent is a dependency; the fallback keeps this importable
    from select import poll as _poll


def readable_now(sock):
    """True when a read would not block: bytes waiting, the peer closed, or an error on the socket."""
    poller = _poll()
    poller.register(sock.fileno(), POLLIN)
    return bool(poller.poll(0))
