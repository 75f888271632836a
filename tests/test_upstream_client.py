"""The OpenRouter client on its own: GETs retried with backoff, POSTs never re-sent, failures mapped."""

import contextlib
import http.server
import threading

import pytest

from core.errors import ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from tests.conftest import MOCK_KEY
from tests.servers import free_port
from upstream.client import OpenRouterClient


def client_for(url, key=MOCK_KEY, timeout_ms=120000):
    return OpenRouterClient(
        {
            "OPENROUTER_BASE_URL": url,
            "OPENROUTER_API_KEY": key,
            "OPENROUTER_CONNECT_TIMEOUT": 1000,
            "OPENROUTER_TIMEOUT": timeout_ms,
            "OPENROUTER_SITE_URL": None,
            "OPENROUTER_SITE_NAME": None,
        }
    )


def test_get_retries_5xx_then_gives_up(upstream):
    upstream.configure(models_fault="500")
    with pytest.raises(UpstreamError):
        client_for(upstream.url).get_json("/models")
    assert upstream.hits("/models") == 3


def test_get_succeeds_and_parses(upstream):
    body = client_for(upstream.url).get_json("/models")
    assert {"openai/gpt-4o", "anthropic/claude-sonnet-4.5"} <= {m["id"] for m in body["data"]}
    assert upstream.hits("/models") == 1


def test_post_is_never_resent(upstream):
    with pytest.raises(UpstreamError) as failed:
        client_for(upstream.url).post_chat(b'{"messages":[{"role":"user","content":"x [[fault:500]]"}]}')
    assert failed.value.headers == {"x-should-retry": "false"}
    assert upstream.hits("/chat/completions") == 1


def test_unreachable_and_silent_and_no_key(upstream):
    with pytest.raises(UpstreamError, match="unreachable"):
        client_for(f"http://127.0.0.1:{free_port()}/api/v1").post_chat(b"{}")
    with pytest.raises(UpstreamTimeoutError):
        client_for(upstream.url, timeout_ms=200).post_chat(
            b'{"messages":[{"role":"user","content":"x [[fault:silence]]"}]}'
        )
    with pytest.raises(ServiceUnavailableError):
        client_for(upstream.url, key=None).post_chat(b"{}")


def test_get_with_one_attempt_is_not_retried(upstream):
    upstream.configure(models_fault="500")
    with pytest.raises(UpstreamError):
        client_for(upstream.url).get_json("/models", attempts=1)
    assert upstream.hits("/models") == 1


def test_a_silent_post_is_not_resent(upstream):
    with pytest.raises(UpstreamTimeoutError) as failed:
        client_for(upstream.url, timeout_ms=200).post_chat(
            b'{"messages":[{"role":"user","content":"x [[fault:silence]]"}]}'
        )
    assert failed.value.headers == {"x-should-retry": "false"}
    assert upstream.hits("/chat/completions") == 1


def test_proxies_are_resolved_once_from_the_environment(monkeypatch, upstream):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert client_for("https://openrouter.ai/api/v1").proxies["https"] == "http://proxy.invalid:3128"
    local = client_for(upstream.url)
    assert local.proxies == {}
    monkeypatch.setenv("NO_PROXY", "")  # read at start only: a later change does not reroute the client
    local.post_chat(b'{"messages":[{"role":"user","content":"hi"}]}')
    assert upstream.hits("/chat/completions") == 1


@contextlib.contextmanager
def plain_upstream(set_cookie=False, close_after_answer=False):
    """An HTTP/1.1 upstream in a thread: yields (URL, what it saw, a semaphore released per closed connection).

    It records each request's Cookie header and counts connections; it may set a cookie, or close each
    connection after its answer without saying so (as an upstream's idle timeout does to a pooled one)."""
    seen, closed = {"cookies": [], "connections": 0}, threading.Semaphore(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            seen["connections"] += 1

        def do_POST(self):
            seen["cookies"].append(self.headers.get("Cookie"))
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"id":"x","choices":[]}'
            self.send_response(200)
            if set_cookie:
                self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = close_after_answer

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def shutdown_request(self, request):
            super().shutdown_request(request)
            closed.release()

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1", seen, closed
    finally:
        server.shutdown()
        server.server_close()


def test_the_session_keeps_no_cookies():
    with plain_upstream(set_cookie=True) as (url, seen, _):
        client = client_for(url)
        for _ in range(2):
            client.post_chat(b'{"messages":[{"role":"user","content":"hi"}]}')
    assert seen["cookies"] == [None, None] and len(client.session.cookies) == 0


def test_a_pooled_connection_the_upstream_closed_is_not_reused():
    # A POST is never re-sent once written, so writing it into a connection the upstream already closed would
    # fail the call: the pool's check before reuse (one poll(2)) finds the close and opens a new one.
    with plain_upstream(close_after_answer=True) as (url, seen, closed):
        client = client_for(url)
        client.post_chat(b'{"messages":[{"role":"user","content":"hi"}]}')
        assert closed.acquire(timeout=5)  # the upstream has closed the connection idle in the pool
        client.post_chat(b'{"messages":[{"role":"user","content":"again"}]}')
    assert seen["connections"] == 2


def test_wait_readable_returns_on_data_times_out_on_silence_and_trusts_tls_buffered_bytes():
    import socket
    import time

    from core.readiness import wait_readable

    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            wait_readable(ours, 0.05)
        assert time.monotonic() - started >= 0.05
        threading.Timer(0.05, theirs.sendall, (b"HTTP/1.1 200 OK\r\n",)).start()
        wait_readable(ours, 5)
        assert ours.recv(100) == b"HTTP/1.1 200 OK\r\n"

        class TLSWithBufferedBytes:  # an SSL socket whose next bytes were already decrypted: nothing to poll
            def pending(self):
                return 5

        wait_readable(TLSWithBufferedBytes(), 0.01)  # returns at once, without asking the (empty) socket
