"""The gateway behind Debian's nginx with deploy/nginx.conf: streams, client address, request ids, 413, keep-alive."""

import http.client
import json
import re
import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.conftest import live_env, live_token
from tests.nginx_server import run_nginx
from tests.servers import run_gunicorn

SECRET = "nginx-secret-" + "0" * 32
API = "/api/v2/openrouter"
CLIENT_ADDRESS = "127.0.0.5"  # the test's own loopback address, unlike nginx's 127.0.0.1 towards gunicorn


@pytest.fixture(scope="module")
def proxied(mock_openrouter, tmp_path_factory):
    """(nginx base URL, gunicorn base URL, gateway log, nginx prefix)."""
    tmp = tmp_path_factory.mktemp("nginx")
    env = live_env(mock_openrouter.url, SECRET, LOG_LEVEL="INFO", TRUSTED_PROXIES="1")
    with ExitStack() as stack:
        gateway, _ = stack.enter_context(run_gunicorn(env, log_path=tmp / "gateway.log"))
        nginx, prefix = stack.enter_context(run_nginx([gateway.removeprefix("http://")], tmp / "nginx"))
        yield nginx, gateway, tmp / "gateway.log", prefix


def bearer(sub="nginx-user"):
    return f"Bearer {live_token(sub, SECRET)}"


def connect(base, source=CLIENT_ADDRESS):
    host, port = base.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))


def post(base, path, body, **headers):
    conn = connect(base)
    conn.request(
        "POST",
        API + path,
        body=json.dumps(body),
        headers={"Authorization": bearer(), "Content-Type": "application/json", **headers},
    )
    return conn, conn.getresponse()


def gateway_lines(log, request_id):
    """The gateway's access log lines for one request id (written when the response closes)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{") and request_id in x]
        lines = [x for x in lines if x["logger"] == "gateway.access"]
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}")


def test_stream_events_arrive_one_by_one(proxied, upstream):
    nginx = proxied[0]
    body = {"messages": [{"role": "user", "content": "hi [[chunks:4]] [[interval_ms:400]]"}]}
    conn, response = post(nginx, "/chat/stream", body)
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    arrivals = []
    while line := response.readline():
        if line.startswith(b"data:"):
            arrivals.append((time.monotonic(), line))
    conn.close()
    assert arrivals[-1][1] == b"data: [DONE]\n"
    content = [t for t, line in arrivals if b'"content"' in line]
    assert len(content) >= 4
    # Each chunk left the upstream 0.4 s after the one before; buffering would deliver them together.
    gaps = [later - earlier for earlier, later in zip(content, content[1:], strict=False)]
    assert min(gaps) > 0.2, gaps


def test_client_address_from_x_forwarded_for_and_forged_ones_ignored(proxied, upstream):
    nginx, _, log, _ = proxied
    conn, response = post(
        nginx, "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, **{"X-Forwarded-For": "6.6.6.6"}
    )
    assert response.status == 200
    request_id = response.getheader("X-Request-ID")
    response.read()
    conn.close()
    (line,) = gateway_lines(log, request_id)
    assert line["remote_addr"] == CLIENT_ADDRESS  # nginx's $remote_addr, the last hop: not 6.6.6.6, not nginx


def test_request_id_set_by_nginx_reaches_the_log_and_the_answer(proxied, upstream):
    nginx, _, log, prefix = proxied
    conn, response = post(nginx, "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert response.status == 200
    request_id = response.getheader("X-Request-ID")
    response.read()
    conn.close()
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id
    assert gateway_lines(log, request_id)[0]["status"] == 200
    deadline = time.monotonic() + 5
    while f"rid={request_id}" not in (prefix / "access.log").read_text():
        assert time.monotonic() < deadline, "nginx did not log the request id"
        time.sleep(0.05)
    # A caller's own well-formed id is kept; a malformed one is replaced.
    _, kept = post(
        nginx, "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, **{"X-Request-ID": "job-42.a"}
    )
    assert kept.getheader("X-Request-ID") == "job-42.a"
    _, replaced = post(nginx, "/chat/completions", {"messages": []}, **{"X-Request-ID": 'bad"id'})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.getheader("X-Request-ID"))
    assert replaced.status == 400


def too_large(base, size):
    """Send only the headers of a body of `size` bytes and read the answer (nginx and werkzeug refuse early)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST {API}/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    body = body[body.index(b"{") : body.rindex(b"}") + 1]  # without chunked framing, if any
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(body)


def test_a_body_over_client_max_body_size_gets_the_gateways_json_413(proxied):
    nginx, gateway, _, _ = proxied
    by_nginx = too_large(nginx, 41 * 1024 * 1024)  # over client_max_body_size 40m
    by_gateway = too_large(gateway, 41 * 1024 * 1024)  # straight to gunicorn: over MAX_CONTENT_LENGTH
    for status, headers, body in (by_nginx, by_gateway):
        assert status == 413
        assert headers["content-type"].startswith("application/json")
        assert body["error"]["request_id"] == headers["x-request-id"]
    strip = lambda body: {**body["error"], "request_id": None}  # noqa: E731
    assert (
        strip(by_nginx[2])
        == strip(by_gateway[2])
        == {
            "code": 413,
            "type": "request_too_large",
            "message": "Request body is too large",
            "request_id": None,
        }
    )


def test_a_client_leaving_through_nginx_closes_the_upstream(proxied, upstream):
    nginx = proxied[0]
    body = {"messages": [{"role": "user", "content": "long [[chunks:400]] [[interval_ms:50]]"}]}
    conn, response = post(nginx, "/chat/stream", body)
    assert response.status == 200
    while not response.readline().startswith(b"data:"):  # keep-alive comments first
        pass
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert upstream.wait_for(lambda: upstream.last("/chat/completions").client_disconnected, timeout=10)


def established_to(port):
    """ESTABLISHED TCP connections whose remote end is loopback `port` (nginx's side of its upstream links)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            count += 1
    return count


def test_nginx_keeps_its_connections_to_gunicorn_alive(proxied, upstream):
    nginx, gateway, _, _ = proxied
    port = int(gateway.rsplit(":", 1)[1])
    for _ in range(6):
        with requests.Session() as fresh:  # a new client connection each time
            assert fresh.get(f"{nginx}{API}/health/live", timeout=5).status_code == 200
    # Without upstream keep-alive nginx would close each connection after its answer: none would stay open.
    assert 1 <= established_to(port) <= 2


def test_nginx_own_errors_are_json(tmp_path):
    from tests.servers import free_port

    with run_nginx([f"127.0.0.1:{free_port()}"], tmp_path / "nginx") as (nginx, _):  # no gateway listening
        response = requests.get(f"{nginx}{API}/health", timeout=10)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "upstream_error" and error["request_id"] == response.headers["X-Request-ID"]
