"""Is a socket readable? Right now (one real poll(2), under gevent too), or once it is (waiting cooperatively).

Under gevent, `select.poll` and `select.select` go through the hub (watchers, a switch, a loop turn): urllib3 and
redis-py ask this before every reuse of a pooled connection, and the relay asks it of its client, so at
thousands of calls a second that was a tenth of a worker's CPU. The unpatched poll only asks the kernel.
"""

import math
from select import POLLIN

try:
    from gevent.monkey import get_original, is_module_patched
    from gevent.socket import wait_read

    _poll = get_original("select", "poll")
except ImportError:  # pragma: no cover - gevent is a dependency; the fallback keeps this importable
    from select import poll as _poll

    wait_read, is_module_patched = None, lambda name: False


def readable_now(sock):
    """True when a read would not block: bytes waiting, the peer closed, or an error on the socket."""
    poller = _poll()
    poller.register(sock.fileno(), POLLIN)
    return bool(poller.poll(0))


def wait_readable(sock, timeout=None):
    """Return once a read of `sock` would not block; TimeoutError after `timeout` seconds (None: no limit).

    Under gevent only this greenlet waits; in a thread, only the thread.
    """
    pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted are not on the socket any more
    if pending is not None and pending():
        return
    if is_module_patched("socket"):
        wait_read(sock.fileno(), timeout, timeout_exc=TimeoutError("timed out"))
        return
    poller = _poll()  # poll(2), not select(2): a gthread worker's sockets may be numbered past 1024
    poller.register(sock.fileno(), POLLIN)
    if not poller.poll(None if timeout is None else max(0, math.ceil(timeout * 1000))):
        raise TimeoutError("timed out")
