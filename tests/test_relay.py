"""The SSE relay and open_stream over a fake upstream response that records whether it was closed."""

import socket
import threading
import time

import orjson
import pytest
import requests

from core.errors import UpstreamError
from tests.conftest import idle_sockets
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


class ChunkedUpstream:
    """A raw HTTP/1.1 upstream on loopback: each request on a connection is answered with the next list of
    pieces, each piece its own write (TCP_NODELAY), so a chunked body arrives split where the test says."""

    HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

    def __init__(self, *answers):
        self.answers, self.connections = list(answers), 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.answers:
            conn, _ = self.listener.accept()
            self.connections += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with conn:
                while self.answers and self._read_request(conn):
                    for piece in self.answers.pop(0):
                        conn.sendall(piece)
                        time.sleep(0.005)  # lets the client read it alone (the result is the same either way)

    @staticmethod
    def _read_request(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return False
            data += more
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        while len(body) < length:
            body += conn.recv(65536)
        return True


def stream_client(url):
    return OpenRouterClient(
        {
            "OPENROUTER_BASE_URL": url,
            "OPENROUTER_API_KEY": "sk-or-v1-x",
            "OPENROUTER_CONNECT_TIMEOUT": 1000,
            "OPENROUTER_TIMEOUT": 5000,
            "OPENROUTER_SITE_URL": None,
            "OPENROUTER_SITE_NAME": None,
        }
    )


def client_pool(client, url):
    """The urllib3 pool the client's session sends `url`'s calls through."""
    request = requests.Request("POST", url).prepare()
    return client.session.get_adapter(url).get_connection_with_tls_context(request, True, client.proxies)


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_a_chunked_body_split_anywhere_relays_whole_and_its_connection_serves_the_next_call():
    first = chunk(CONTENT)
    upstream = ChunkedUpstream(
        [
            ChunkedUpstream.HEAD + first[:1],  # mid chunk-size line
            first[1:2] + b";ext=1" + first[2:12],  # a chunk extension, then mid-data
            first[12:-1],  # all but the chunk's last CRLF byte
            first[-1:] + chunk(USAGE) + chunk(DONE) + b"0\r\nX-Trailer: 1\r\n",  # the trailer's end comes later
            b"\r\n",
        ],
        [ChunkedUpstream.HEAD + chunk(CONTENT + DONE) + b"0\r\n\r\n"],
    )
    client, seen = stream_client(upstream.url), []
    assert b"".join(relay(client.open_stream(b"{}"), "rid", on_data=seen.append)) == CONTENT + USAGE + DONE
    assert seen == [orjson.loads(USAGE[6:])]
    assert b"".join(relay(client.open_stream(b"{}"), "rid")) == CONTENT + DONE
    assert upstream.connections == 1  # the first body was read to its end: its connection served the second
    pool = client_pool(client, upstream.url)
    assert [sock is not None for sock in idle_sockets(pool)] == [True]  # and is back in the pool, open


@pytest.mark.parametrize(
    "rest",
    [b"zz\r\n" + CONTENT, b"-5\r\n" + CONTENT, chunk(CONTENT)[:20]],
    ids=["malformed chunk size", "negative chunk size", "closed inside a chunk"],
)
def test_a_broken_chunked_body_is_an_error_event_then_done(rest):
    upstream = ChunkedUpstream([ChunkedUpstream.HEAD + chunk(CONTENT) + rest])
    client = stream_client(upstream.url)
    response = client.open_stream(b"{}")
    got = events(relay(response, "rid"))
    assert got[0] + b"\n\n" == CONTENT and got[-1] == DONE.strip()
    error = orjson.loads(got[-2][6:])["error"]
    assert (error["code"], error["type"]) == (502, "upstream_error")
    assert "broke mid-stream" in error["message"]
    pool = client_pool(client, upstream.url)
    assert idle_sockets(pool) == [None]  # closed, not handed back to the pool for the next call


def test_the_events_one_read_brings_go_on_in_one_write():
    upstream, seen = FakeUpstream(CONTENT + CONTENT, CONTENT + USAGE + DONE), []
    assert list(relay(upstream, "rid", on_data=seen.append)) == [CONTENT + CONTENT, CONTENT + USAGE + DONE]
    assert seen == [orjson.loads(USAGE[6:])]
    assert (upstream.closed, upstream.released) == (False, True)


def test_an_error_event_inside_a_read_ends_the_stream_there():
    error = b'data: {"error":{"code":502,"message":"boom"}}\n\n'
    upstream = FakeUpstream(CONTENT + error + CONTENT + DONE, CONTENT)
    (out,) = list(relay(upstream, "rid"))  # one write: the content before it, our error event, [DONE]
    got = events([out])
    assert got[0] + b"\n\n" == CONTENT and got[-1] == DONE.strip() and len(got) == 3
    assert orjson.loads(got[1][6:])["error"]["message"] == "OpenRouter error (502): boom"
    assert upstream.closed and upstream.pieces == [CONTENT]  # nothing read past it


def test_chunks_waiting_together_go_on_in_one_write():
    body = chunk(CONTENT) + chunk(CONTENT) + chunk(USAGE) + chunk(DONE) + b"0\r\n\r\n"
    upstream = ChunkedUpstream([ChunkedUpstream.HEAD + body])  # one write: the client finds it all at once
    client = stream_client(upstream.url)
    assert list(relay(client.open_stream(b"{}"), "rid")) == [CONTENT + CONTENT + USAGE + DONE]
    assert [sock is not None for sock in idle_sockets(client_pool(client, upstream.url))] == [True]
