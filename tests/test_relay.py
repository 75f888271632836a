"""The SSE relay and open_stream over a fake upstream response that records whether it was closed."""

import socket

import orjson
import pytest

from core.errors import UpstreamError
from upstream.client import OpenRouterClient
from upstream.streaming import WorkerShutdown, relay

CONTENT = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n'
DONE = b"data: [DONE]\n\n"


class FakeSocket:
    def settimeout(self, value):
        self.timeout = value


class FakeConnection:
    sock = FakeSocket()


class FakeUpstream:
    """Just enough of a urllib3 response: its body in pieces (or an exception), and what was done to it."""

    chunked = False

    def __init__(self, *pieces, status=200):
        self.pieces, self.status, self.headers = list(pieces), status, {}
        self.closed = self.released = False
        self.connection = FakeConnection()

    def read1(self, size):
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if isinstance(piece, BaseException):
            raise piece
        return piece

    def read(self):
        return b"".join(self.pieces)

    def close(self):
        self.closed = True

    def release_conn(self):
        self.released = True


def events(output):
    return [e for e in b"".join(output).split(b"\n\n") if e]


def test_done_passes_usage_on_and_keeps_the_connection():
    upstream, seen = FakeUpstream(CONTENT, USAGE + DONE), []
    out = list(relay(upstream, "rid", on_data=seen.append))
    assert b"".join(out) == CONTENT + USAGE + DONE
    assert seen == [orjson.loads(USAGE[6:])]  # content chunks are not parsed; the usage one is
    assert (upstream.closed, upstream.released) == (False, True)


def test_an_error_chunk_is_our_error_event_then_done_and_closes():
    upstream = FakeUpstream(CONTENT, b'data: {"error":{"code":502,"message":"boom"}}\n\n', CONTENT)
    got = events(relay(upstream, "rid"))
    assert got[-1] == DONE.strip()
    error = orjson.loads(got[-2][6:])["error"]
    assert (error["code"], error["type"], error["request_id"]) == (502, "upstream_error", "rid")
    assert upstream.closed


@pytest.mark.parametrize("broken", [b"data: {not json\n\n", b"data: [1, 2]\n\n"])
def test_an_unreadable_event_is_an_error_event(broken):
    upstream = FakeUpstream(CONTENT, broken)
    got = events(relay(upstream, "rid"))
    assert orjson.loads(got[-2][6:])["error"]["type"] == "upstream_error" and got[-1] == DONE.strip()
    assert upstream.closed


def test_an_end_without_done_and_a_broken_read_close_with_an_error_event():
    for upstream in (FakeUpstream(CONTENT), FakeUpstream(CONTENT, OSError("reset"))):
        got = events(relay(upstream, "rid"))
        assert orjson.loads(got[-2][6:])["error"]["code"] == 502 and got[-1] == DONE.strip()
        assert upstream.closed


def test_the_shutdown_deadline_ends_a_stream_with_a_503_event():
    upstream = FakeUpstream(CONTENT, WorkerShutdown("The gateway is restarting"))
    got = events(relay(upstream, "rid"))
    assert orjson.loads(got[-2][6:])["error"]["type"] == "service_unavailable" and got[-1] == DONE.strip()
    assert upstream.closed


def test_a_client_gone_closes_the_upstream_at_the_next_event():
    ours, theirs = socket.socketpair()
    theirs.close()
    upstream = FakeUpstream(CONTENT, CONTENT)
    try:
        assert list(relay(upstream, "rid", sock=ours)) == []
    finally:
        ours.close()
    assert upstream.closed


def test_closing_the_generator_early_closes_the_upstream():
    upstream = FakeUpstream(CONTENT, CONTENT, DONE)
    stream = relay(upstream, "rid")
    assert next(stream) == CONTENT
    stream.close()
    assert upstream.closed


def test_open_stream_closes_a_refused_response(monkeypatch):
    client = OpenRouterClient(
        {
            "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",
            "OPENROUTER_API_KEY": "sk-or-v1-x",
            "OPENROUTER_CONNECT_TIMEOUT": 1000,
            "OPENROUTER_TIMEOUT": 1000,
            "OPENROUTER_SITE_URL": None,
            "OPENROUTER_SITE_NAME": None,
        }
    )
    refused = FakeUpstream(b'{"error":{"code":503,"message":"down"}}', status=503)
    monkeypatch.setattr(client, "_send", lambda *args, **kwargs: refused)
    with pytest.raises(UpstreamError):
        client.open_stream(b"{}")
    assert refused.closed
    accepted = FakeUpstream(CONTENT, DONE)
    monkeypatch.setattr(client, "_send", lambda *args, **kwargs: accepted)
    assert client.open_stream(b"{}") is accepted and not accepted.closed
