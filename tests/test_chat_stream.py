"""Streaming through the gateway: the relay intact, buckets, and failures after the first byte."""

import orjson
import pytest

from tests.conftest import assert_error, gateway_app, idle_sockets, token_for, upstream_pool
from webapp.composition import services_of

CHAT = "/api/v2/openrouter/chat/completions"
STREAM = "/api/v2/openrouter/chat/stream"


def events(raw):
    """SSE events as (kind, payload): ("comment", text), ("data", dict), ("done", None)."""
    out = []
    for event in raw.decode().split("\n\n"):
        if not event:
            continue
        if event.startswith(":"):
            out.append(("comment", event))
        elif event == "data: [DONE]":
            out.append(("done", None))
        else:
            assert event.startswith("data: "), event
            out.append(("data", orjson.loads(event[6:])))
    return out


def stream(app, url, text, sub="alice", **extra):
    client = app.test_client()
    body = {"messages": [{"role": "user", "content": text}], **extra}
    with client.post(url, json=body, headers={"Authorization": f"Bearer {token_for(app, sub)}"}) as response:
        return response, response.get_data()


@pytest.mark.parametrize("url, extra", [(STREAM, {}), (CHAT, {"stream": True})])
def test_relay_is_intact(gateway, upstream, url, extra):
    response, raw = stream(gateway, url, "hello [[chunks:4]] [[keepalive]]", **extra)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["X-RateLimit-Limit"] == "20"  # the streaming bucket
    got = events(raw)
    assert got[0] == ("comment", ": OPENROUTER PROCESSING")
    assert got[-1] == ("done", None)
    assert got[-2][1]["choices"] == [] and got[-2][1]["usage"]["total_tokens"] > 0
    content = "".join(d["choices"][0]["delta"].get("content") or "" for k, d in got if k == "data" and d["choices"])
    assert content == "Mock reply to: hello [[chunks:4]] [[keepalive]]"
    sent_upstream = [e for _, e in upstream.last("/chat/completions").events]
    assert raw == b"".join(sent_upstream)  # byte for byte what OpenRouter sent
    assert upstream.last("/chat/completions").body["stream"] is True


def test_stream_flag_draws_on_the_streaming_bucket_only(upstream):
    app = gateway_app(
        upstream,
        RATELIMIT_STREAMING="2/minute",
        RATELIMIT_CHAT="5/minute",
    )
    for url, extra in ((STREAM, {}), (CHAT, {"stream": True})):
        assert stream(app, url, "x", **extra)[0].status_code == 200
    response, _ = stream(app, CHAT, "x", stream=True)
    assert response.status_code == 429
    assert stream(app, CHAT, "x")[0].status_code == 200  # plain chat still has its own bucket


def test_error_before_first_byte_is_plain_json(gateway):
    response, _ = stream(gateway, STREAM, "x [[fault:429]]")
    assert_error(response, 429, "rate_limit_error")
    assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    "fault, code, error_type",
    [
        ("stream-error", 502, "upstream_error"),
        ("stream-drop", 502, "upstream_error"),
    ],
)
def test_failure_after_first_byte_is_an_error_event_then_done(gateway, fault, code, error_type):
    response, raw = stream(gateway, STREAM, f"x [[fault:{fault}]]")
    assert response.status_code == 200
    got = events(raw)
    assert got[-1] == ("done", None)
    kind, error = got[-2]
    assert kind == "data" and set(error) == {"error"}
    assert error["error"]["code"] == code and error["error"]["type"] == error_type
    assert error["error"]["request_id"] == response.headers["X-Request-ID"]
    assert [k for k, _ in got].count("done") == 1


def test_stalled_stream_ends_with_timeout_event(upstream):
    app = gateway_app(upstream, OPENROUTER_TIMEOUT=400)
    response, raw = stream(app, STREAM, "x [[fault:stream-stall]]")
    got = events(raw)
    assert got[-1] == ("done", None)
    assert got[-2][1]["error"]["code"] == 504 and got[-2][1]["error"]["type"] == "upstream_timeout"
    assert upstream.wait_for(lambda: upstream.last("/chat/completions").client_disconnected)


def test_stream_releases_concurrency_slot(gateway):
    stream(gateway, STREAM, "x")
    assert services_of(gateway).concurrency.held("alice") == 0


def test_finished_streams_keep_their_upstream_connection(gateway, upstream):
    pool = upstream_pool(gateway, upstream.url)
    sockets = set()
    for _ in range(3):
        response, raw = stream(gateway, STREAM, "again")
        assert raw.endswith(b"data: [DONE]\n\n")
        (sock,) = idle_sockets(pool)
        assert sock is not None
        sockets.add(sock)
    assert len(sockets) == 1  # one keep-alive connection served all three streams


def test_failed_streams_close_their_upstream_connection(gateway, upstream):
    pool = upstream_pool(gateway, upstream.url)
    stream(gateway, STREAM, "x [[fault:stream-error]]")
    assert idle_sockets(pool) == [None]  # closing is what tells OpenRouter to stop


def test_unreadable_event_becomes_an_error_event(gateway):
    response, raw = stream(gateway, STREAM, "x [[fault:invalid-json]]")
    got = events(raw)
    assert got[-1] == ("done", None)
    assert got[-2][1]["error"]["type"] == "upstream_error" and "not JSON" in got[-2][1]["error"]["message"]


def test_a_reused_stream_connection_gets_the_full_timeout_back(gateway, upstream):
    stream(gateway, STREAM, "first")  # ends with [DONE]: its connection is drained with a short timeout
    client = gateway.test_client()
    body = {"messages": [{"role": "user", "content": "slow [[fault:slow]] [[delay_ms:600]]"}]}
    with client.post(CHAT, json=body, headers={"Authorization": f"Bearer {token_for(gateway)}"}) as response:
        assert response.status_code == 200  # not a 504 from the 0.25 s drain timeout
