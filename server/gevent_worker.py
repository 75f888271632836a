"""gunicorn's gevent worker, plus what a gateway open to slow or idle clients needs.

- A client must send its request head within CLIENT_HEADER_TIMEOUT and its body without a gap longer than
  CLIENT_BODY_TIMEOUT; a trickling client is cut off instead of holding one of the worker's connections.
- When the worker nears `worker_connections`, idle keep-alive connections are dropped, oldest first, so
  new callers are still accepted.
- On SIGTERM, idle connections close at once and calls in flight may finish until shortly before
  `graceful_timeout`; the ones still running then are ended by WorkerShutdown, which a stream turns into an
  error event and [DONE] (never a silent cut).
- gunicorn's own refusals of a malformed request (431, 414, 400) answer in the API's JSON error envelope.
- Name lookups are kept for a few seconds and shared by the connections a burst opens (server/dns.py).

gunicorn loads this module in the master, before any worker has monkey-patched: it imports only what
gunicorn's own gevent worker imports.
"""

import contextlib
import json
import resource
import socket
import time
import uuid

import gevent
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from server.dns import CachingResolver

# gunicorn's parse errors → (status, type, message); the message never echoes what the client sent.
PARSE_ERRORS = (
    (http_errors.LimitRequestHeaders, 431, "request_too_large", "Request header fields too large"),
    (http_errors.LimitRequestLine, 414, "request_too_large", "Request line (URI) too long"),
    (http_errors.UnsupportedTransferCoding, 501, "invalid_request_error", "Unsupported Transfer-Encoding"),
    (http_errors.ForbiddenProxyRequest, 403, "permission_error", "Request forbidden"),
    (http_errors.ExpectationFailed, 417, "invalid_request_error", "Expectation failed"),
    (http_errors.ParseException, 400, "invalid_request_error", "Malformed HTTP request"),
)
# A large body whose bytes are all there is read without blocking, so it would never let other calls run.
YIELD_EVERY_BYTES = 256 * 1024
# A connection silent for less than this may just be sending its request: it is not shed.
MIN_IDLE_S = 1.0
REASONS = {400: "Bad Request", 403: "Forbidden", 414: "URI Too Long", 417: "Expectation Failed"}
REASONS.update({431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented"})


class ClientConnection:
    """A client socket whose reads have deadlines: the request head as a whole, the body between bytes."""

    def __init__(self, sock, worker):
        self._sock, self._worker = sock, worker
        self.first_request, self.reading_head, self.expired, self._unyielded = True, True, False, 0
        self.head_deadline = time.monotonic() + worker.client_header_timeout  # a silent new client counts too

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def recv(self, size, *flags):
        """Read like socket.recv; past a deadline (or once dropped) the client has ended: b""."""
        if flags:  # a peek (is the client still there?) must not wait
            return self._sock.recv(size, *flags)
        if self.expired:
            return b""
        timeout = self._read_timeout()
        if timeout is not None and timeout <= 0:
            return self._expire()
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            return self._expire()
        finally:
            self._sock.settimeout(None)
        if self.reading_head and self.head_deadline is None and data:  # a kept-alive client started a request
            self.head_deadline = time.monotonic() + self._worker.client_header_timeout
        if data:
            self._worker.idle.pop(self, None)
            self._unyielded += len(data)
            if self._unyielded >= YIELD_EVERY_BYTES:  # a body already buffered is read without ever blocking
                self._unyielded = 0
                gevent.sleep(0.001)  # a timer, not sleep(0): the loop polls other sockets before coming back
        return data

    def _read_timeout(self):
        if not self.reading_head:
            return self._worker.client_body_timeout
        if self.head_deadline is None:
            return None  # waiting for the next request on a kept-alive connection: gunicorn's keepalive
        return self.head_deadline - time.monotonic()

    def _expire(self):
        self.expired = True
        return b""

    def waiting(self):
        """Between requests: the next read starts a request head, and the connection counts as idle."""
        self.reading_head = True
        if not self.first_request:
            self.head_deadline = None
        self._worker.idle[self] = time.monotonic()

    def sendall(self, data):
        """Nearly every write (an event, a small answer) fits the socket's buffer: one send(), and gevent's
        sendall (which asks the kernel for the buffer's size first) only for what did not fit."""
        sent = self._sock.send(data)
        if sent < len(data):
            self._sock.sendall(memoryview(data)[sent:])

    def head_read(self):
        """The request head is in; reads from now on are the body's."""
        self.reading_head, self.first_request = False, False
        self._worker.idle.pop(self, None)

    def drop(self):
        """End an idle connection from another greenlet: its pending read returns b"" and gunicorn closes it."""
        self.expired = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)


class _ReadingHead:
    """gunicorn's keep-alive wait (`timeout_ctx`) around the read of one request head."""

    def __init__(self, worker, connection):
        self.timeout, self.connection = gevent.Timeout(worker.cfg.keepalive, False), connection

    def __enter__(self):
        self.connection.waiting()
        return self.timeout.__enter__()

    def __exit__(self, *exc):
        self.connection.head_read()
        return self.timeout.__exit__(*exc)


class GatewayWorker(GeventWorker):
    """GeventWorker with client read timeouts, idle-connection shedding, a clean shutdown and JSON errors."""

    client_header_timeout = 10.0  # gunicorn.conf.py's post_fork sets both from the gateway's settings
    client_body_timeout = 30.0

    def init_process(self):
        self.connections = {}  # greenlet → ClientConnection, every connection open in this worker
        self.idle = {}  # ClientConnection → when it became idle, oldest first
        limit = self.worker_connections
        self.shed_at = max(limit - max(10, limit // 20), limit // 2)
        _raise_open_files_limit(self.worker_connections + 1024)
        super().init_process()

    def handle(self, listener, client, addr):
        connection = ClientConnection(client, self)
        current = gevent.getcurrent()
        self.connections[current] = connection
        try:
            self._shed_idle()
            super().handle(listener, connection, addr)
        finally:
            self.connections.pop(current, None)
            self.idle.pop(connection, None)

    def run(self):
        gevent.get_hub().resolver = CachingResolver()  # a burst of new connections makes one name lookup
        gevent.spawn(self._keep_shedding)
        super().run()

    def _keep_shedding(self):
        """A full pool accepts no one, so no new connection would trigger shedding: check on a timer too."""
        while self.alive:
            self._shed_idle()
            gevent.sleep(0.25)

    def timeout_ctx(self):
        return _ReadingHead(self, self.connections[gevent.getcurrent()])

    def _shed_idle(self):
        """Near the connection limit, drop the oldest idle connections so a new caller is not locked out."""
        while len(self.connections) > self.shed_at and self.idle:
            oldest = next(iter(self.idle))
            if time.monotonic() - self.idle[oldest] < MIN_IDLE_S:
                return  # a client whose request is still on its way is not idle yet
            del self.idle[oldest]
            oldest.drop()

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        gevent.spawn(self._drain)

    def _drain(self):
        """Close idle connections now; end the calls still running shortly before graceful_timeout."""
        started, grace = time.monotonic(), self.cfg.graceful_timeout
        deadline = started + (grace - 1.0 if grace >= 2 else grace / 2)
        while time.monotonic() < deadline and self.connections:
            for connection in list(self.idle):
                self.idle.pop(connection, None)
                connection.drop()
            gevent.sleep(0.1)
        shutdown = _shutdown_error()
        for greenlet in list(self.connections):
            greenlet.kill(shutdown("The gateway is restarting: the call was cut short"), block=False)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own error answers, in the API's JSON envelope instead of an HTML page."""
        if isinstance(exc, _shutdown_error()):
            return  # a connection ended by the shutdown deadline between requests: nothing to answer
        status, error_type, message = _describe(exc)
        if status == 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], type(exc).__name__)
        request_id = uuid.uuid4().hex
        body = json.dumps(
            {"error": {"code": status, "type": error_type, "message": message, "request_id": request_id}}
        ).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nX-Request-ID: {request_id}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode() + body)
        except Exception:
            self.log.debug("Failed to send error message.")


def _describe(exc):
    for kind, status, error_type, message in PARSE_ERRORS:
        if isinstance(exc, kind):
            return status, error_type, message
    return 500, "internal_error", "Internal server error"


def _shutdown_error():
    """The app's WorkerShutdown once the app is loaded (a stream turns it into an error event)."""
    try:
        from upstream.streaming import WorkerShutdown
    except ImportError:
        return gevent.GreenletExit
    return WorkerShutdown


def _raise_open_files_limit(wanted):
    """Each connection is a file descriptor: lift the soft limit toward `wanted`, as far as the hard one allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
