"""The SSE relay: upstream events forwarded as they arrive, failures after the first byte as an error event."""

import select
import socket

import orjson
from urllib3.exceptions import HTTPError, ReadTimeoutError

from errors import ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from upstream.client import close, finish
from upstream.errors import error_from_chunk

DONE = b"data: [DONE]\n\n"


class WorkerShutdown(ServiceUnavailableError):
    """Raised in a call still running at the worker's shutdown deadline (gevent_worker.py)."""


def error_event(error, request_id):
    """One `data:` event carrying our error envelope."""
    return b"data: " + orjson.dumps(error.to_dict(request_id)) + b"\n\n"


def client_gone(sock):
    """True when the client closed its connection (readable with nothing to read)."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _stream_failure(exc):
    if isinstance(exc, ReadTimeoutError):
        return UpstreamTimeoutError("OpenRouter went silent mid-stream for longer than OPENROUTER_TIMEOUT")
    return UpstreamError("The connection to OpenRouter broke mid-stream")


def _events(upstream):
    """Complete SSE events (without their blank-line terminator) as the upstream sends them."""
    buffer = b""
    for chunk in _chunks(upstream):
        buffer += chunk.replace(b"\r\n", b"\n") if b"\r" in chunk else chunk
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            yield buffer[:end]
            buffer = buffer[end + 2 :]


def _chunks(upstream):
    """The body as it arrives: each HTTP chunk of a chunked answer, else whatever the socket has."""
    if upstream.chunked and upstream.supports_chunked_reads():
        yield from upstream.read_chunked(decode_content=False)
    else:
        while chunk := upstream.read1(65536):
            yield chunk


def relay(upstream, request_id, sock=None, on_data=None):
    """Yield SSE bytes to the client; always ends the upstream response, stopping OpenRouter's billing."""
    events, complete = _events(upstream), False
    try:
        for event in events:
            if client_gone(sock):
                return
            if event.startswith(b"data:"):
                data = event[5:].strip()
                if data == b"[DONE]":
                    yield DONE
                    complete = True
                    return
                if _needs_parsing(data):
                    chunk = _parse(data)
                    error = chunk.get("error") if isinstance(chunk, dict) else "not a JSON object"
                    if error is not None:
                        failure = error_from_chunk(error if isinstance(error, dict) else {"message": str(error)})
                        yield error_event(failure, request_id) + DONE
                        return
                    if on_data is not None:
                        on_data(chunk)
            yield event + b"\n\n"
        yield error_event(UpstreamError("OpenRouter ended the stream without [DONE]"), request_id) + DONE
    except (HTTPError, OSError) as exc:
        yield error_event(_stream_failure(exc), request_id) + DONE
    except WorkerShutdown as exc:
        yield error_event(exc, request_id) + DONE
    finally:
        if complete:
            finish(upstream, events)  # a finished stream keeps its keep-alive connection
        else:
            close(upstream)  # closing is what tells OpenRouter to stop


def _needs_parsing(data):
    """Only an event that may carry an error or usage, or does not even look like one JSON object, is parsed:
    the plain content chunks (nearly all of a stream) are passed on as bytes."""
    return b'"error"' in data or b'"usage"' in data or data[:1] != b"{" or data[-1:] != b"}"


def _parse(data):
    """A data event's JSON; an unreadable one stands for an error (a client SDK could not parse it either)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"error": {"code": 502, "message": "OpenRouter sent a stream event that is not JSON"}}
