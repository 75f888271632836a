"""The relay's per-API parts: finding an event's data line, and each API's error and end events."""

import orjson
import pytest

from core.errors import UpstreamError
from upstream.dialects import MESSAGES, RESPONSES
from upstream.streaming import CHAT, data_line


@pytest.mark.parametrize(
    "event, data",
    [
        (b'data: {"a":1}', b'{"a":1}'),
        (b"data:[DONE]", b"[DONE]"),
        (b'event: response.created\ndata: {"b":2}', b'{"b":2}'),
        (b'id: 7\nevent: ping\ndata: {"type":"ping"}\nretry: 10', b'{"type":"ping"}'),
        (b": OPENROUTER PROCESSING", None),
        (b"event: lonely", None),
    ],
)
def test_data_line(event, data):
    assert data_line(event) == data


@pytest.mark.parametrize(
    "dialect, chunk, error",
    [
        (CHAT, {"choices": []}, None),
        (CHAT, {"error": {"code": 429}}, {"code": 429}),
        (RESPONSES, {"type": "response.output_text.delta", "delta": "x"}, None),
        (
            RESPONSES,
            {"type": "error", "code": "server_error", "message": "m"},
            {"code": "server_error", "message": "m"},
        ),
        (RESPONSES, {"type": "error", "error": {"code": 502, "message": "m"}}, {"code": 502, "message": "m"}),
        (RESPONSES, {"error": {"code": 502}}, {"code": 502}),
        (RESPONSES, {"type": "response.failed", "response": {"error": {"code": "x"}}}, None),  # relayed as is
        (MESSAGES, {"type": "content_block_delta"}, None),
        (
            MESSAGES,
            {"type": "error", "error": {"type": "overloaded_error", "message": "m"}},
            {"type": "overloaded_error", "message": "m"},
        ),
        (MESSAGES, {"error": {"code": 502}}, {"code": 502}),
    ],
)
def test_errors_found_in_each_api(dialect, chunk, error):
    assert dialect.error_of(chunk) == error


def test_end_events():
    assert [
        RESPONSES.finished({"type": t}) for t in ("response.completed", "response.failed", "response.in_progress")
    ] == [True, True, False]
    assert [MESSAGES.finished({"type": t}) for t in ("message_stop", "message_delta")] == [True, False]
    assert CHAT.finished is None


def test_gateway_error_events_in_each_api_shape():
    error = UpstreamError("broke")
    chat = CHAT.failure(error, "rid")
    envelope = b'{"error":{"code":502,"type":"upstream_error","message":"broke","request_id":"rid"}}'
    assert chat == b"data: " + envelope + b"\n\ndata: [DONE]\n\n"
    head, data = MESSAGES.failure(error, "rid").split(b"\n", 1)
    assert head == b"event: error"
    assert orjson.loads(data[6:]) == {
        "type": "error",
        "error": {"type": "api_error", "message": "broke"},
        "request_id": "rid",
    }
    head, data = RESPONSES.failure(error, "rid").split(b"\n", 1)
    body = orjson.loads(data[6:])
    assert head == b"event: error" and body["type"] == "error" and body["code"] == "upstream_error"
    assert body["error"] == {"code": 502, "type": "upstream_error", "message": "broke", "request_id": "rid"}
