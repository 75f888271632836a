"""The SSE relay: upstream events forwarded as they arrive, failures after the first byte as an error event."""

import socket
import time

import orjson
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError

from core.errors import ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from core.readiness import readable_now
from upstream.client import close, finish
from upstream.errors import error_from_chunk

DONE = b"data: [DONE]\n\n"
# How often a stream asks whether its client is still there: at its first event, then at most this often. Asked
# at every event (a select() through the gevent hub, then) it was an eighth of a worker's CPU at 256 streams; a
# client gone is also found by the next write that fails.
CLIENT_CHECK_S = 0.1


class WorkerShutdown(ServiceUnavailableError):
    """Raised in a call still running at the worker's shutdown deadline (gevent_worker.py)."""


def error_event(error, request_id):
    """One `data:` event carrying our error envelope."""
    return b"data: " + orjson.dumps(error.to_dict(request_id)) + b"\n\n"


def data_line(event):
    """The payload of an event's `data:` line, wherever it sits (after `event:`/`id:` lines); None if it has none."""
    if event.startswith(b"data:"):
        start = 5
    else:
        start = event.find(b"\ndata:")
        if start < 0:
            return None
        start += 6
    end = event.find(b"\n", start)
    return (event[start:end] if end >= 0 else event[start:]).strip()


class Dialect:
    """What differs between the inference APIs' streams, as callbacks the relay asks.

    `error_of(chunk)`: the upstream error object a parsed data event carries, or None. `finished(chunk)`: True
    for an API's last event (chat has none: its end is `data: [DONE]`). `error_event(error, request_id)`: the
    bytes of the gateway's own error event, then `after_error` (chat's `[DONE]`). `watch`: byte strings that mark
    an event to parse besides those naming an error or usage (the API's last event).
    """

    def __init__(self, error_of, finished=None, error_event=error_event, after_error=DONE, watch=()):
        self.error_of, self.finished = error_of, finished
        self.error_event, self.after_error, self.watch = error_event, after_error, watch

    def failure(self, error, request_id):
        """The gateway's error event for a failure after the first byte, and what must follow it."""
        return self.error_event(error, request_id) + self.after_error


CHAT = Dialect(error_of=lambda chunk: chunk.get("error"))


def client_gone(sock):
    """True when the client closed its connection (readable with nothing to read)."""
    if sock is None:
        return False
    try:
        return readable_now(sock) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _stream_failure(exc):
    if isinstance(exc, ReadTimeoutError | TimeoutError):
        return UpstreamTimeoutError("OpenRouter went silent mid-stream for longer than OPENROUTER_TIMEOUT")
    return UpstreamError("The connection to OpenRouter broke mid-stream")


def _batches(upstream):
    """The complete SSE events (without their blank-line terminator) each read of the upstream brings, as lists."""
    buffer = b""
    for data in _arrivals(upstream):
        buffer += data.replace(b"\r\n", b"\n") if b"\r" in data else data
        events = buffer.split(b"\n\n")
        buffer = events.pop()  # what follows the last complete event
        if events:
            yield events


def _arrivals(upstream):
    """The body as it arrives: what one read brings (of a chunked answer, its complete chunks' data)."""
    if upstream.chunked and upstream.supports_chunked_reads():
        yield from _chunked_body(upstream)
    else:
        while data := upstream.read1(65536):
            yield data


def _chunked_body(upstream):
    """A chunked body, read straight from http.client's buffered reader: per read, the data of every chunk it
    completed. urllib3's `read_chunked` hands out one chunk at a time through a line read and two sized reads; an
    SSE event is one chunk, and a worker that fell behind finds several waiting, which then go on in one write.

    The last chunk and its trailer end the http.client response, so the connection can serve the next call.
    """
    response = upstream._fp  # http.client's response; its buffered reader may already hold the first chunks
    buffer, start = b"", 0
    while True:
        ready = []
        while (line_end := buffer.find(b"\r\n", start)) >= 0:
            try:
                size = int(buffer[start:line_end].split(b";", 1)[0], 16)
                if size < 0:
                    raise ValueError(size)
            except ValueError:
                if ready:  # what came before it still goes on
                    yield b"".join(ready)
                raise ProtocolError("OpenRouter sent a malformed chunk size") from None
            if size == 0:
                if b"\r\n\r\n" in buffer[line_end:]:  # "0", any trailer lines, then an empty line
                    if ready:
                        yield b"".join(ready)
                    response.close()  # the body is whole: its connection is reusable
                    return
                break
            if len(buffer) < line_end + 4 + size:
                break
            ready.append(buffer[line_end + 2 : line_end + 2 + size])
            start = line_end + 4 + size
        if ready:
            yield b"".join(ready)
        buffer, start = buffer[start:], 0
        data = response.fp.read1(65536)
        if not data:
            raise ProtocolError("OpenRouter closed the connection inside a chunked body")
        buffer += data


def relay(upstream, request_id, sock=None, on_data=None, dialect=CHAT):
    """Yield SSE bytes to the client; always ends the upstream response, stopping OpenRouter's billing.

    Events go on byte for byte (`event:` lines included); only their `data:` line is read, for errors and usage.
    The events one read brought go on in one write.
    """
    batches, complete, next_check = _batches(upstream), False, 0.0
    try:
        for events in batches:
            if sock is not None and (now := time.monotonic()) >= next_check:
                if client_gone(sock):
                    return
                next_check = now + CLIENT_CHECK_S
            out, last = [], False
            for event in events:
                data, ended = data_line(event), False
                if data is not None:
                    if data == b"[DONE]":
                        out.append(DONE)
                        complete = True
                        break
                    if _needs_parsing(data, dialect.watch):
                        chunk = _parse(data)
                        error = dialect.error_of(chunk) if isinstance(chunk, dict) else "not a JSON object"
                        if error is not None:
                            failure = error_from_chunk(error if isinstance(error, dict) else {"message": str(error)})
                            out.append(dialect.failure(failure, request_id))
                            last = True
                            break
                        if on_data is not None:
                            on_data(chunk)
                        ended = dialect.finished is not None and dialect.finished(chunk)
                out.append(event + b"\n\n")
                if ended:  # the API's own last event (message_stop, response.completed): the stream is whole
                    complete = True
                    break
            yield b"".join(out)
            if last or complete:  # an error event, [DONE] or the API's last event went out: the stream is over
                return
        yield dialect.failure(UpstreamError("OpenRouter ended the stream without [DONE]"), request_id)
    except (HTTPError, OSError) as exc:
        yield dialect.failure(_stream_failure(exc), request_id)
    except WorkerShutdown as exc:
        yield dialect.failure(exc, request_id)
    finally:
        if complete:
            finish(upstream, batches)  # a finished stream keeps its keep-alive connection
        else:
            close(upstream)  # closing is what tells OpenRouter to stop


def _needs_parsing(data, watch=()):
    """Only an event that may carry an error or usage, one the dialect watches for (its last event), or one that
    does not even look like one JSON object is parsed: the plain content chunks (nearly all of a stream) are
    passed on as bytes."""
    if b'"error"' in data or b'"usage"' in data or data[:1] != b"{" or data[-1:] != b"}":
        return True
    return any(word in data for word in watch)


def _parse(data):
    """A data event's JSON; an unreadable one stands for an error (a client SDK could not parse it either)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"error": {"code": 502, "message": "OpenRouter sent a stream event that is not JSON"}}
