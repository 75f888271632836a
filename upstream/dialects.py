"""How the Responses and Messages streams say "error" and "finished", for the one relay in streaming.py.

Both name their events (`event: response.output_text.delta`, `event: content_block_delta`); the relay passes
them on byte for byte and asks these callbacks about each event's parsed `data:` line.
"""

import orjson

from upstream.streaming import Dialect

RESPONSE_ENDS = ("response.completed", "response.incomplete", "response.failed")


def _responses_error(chunk):
    """Responses' `error` event ({"type": "error", "code", "message"}); an untyped {"error": …} chunk too."""
    kind = chunk.get("type")
    if kind == "error":
        inner = chunk.get("error")
        return inner if isinstance(inner, dict) else {"code": chunk.get("code"), "message": chunk.get("message")}
    return chunk.get("error") if kind is None else None


def _responses_error_event(error, request_id):
    """Responses' own error event; its `error` member is our envelope, which the OpenAI SDKs raise as APIError."""
    body = {"type": "error", "code": error.type, "message": error.message, "param": None}
    body["error"] = error.to_dict(request_id)["error"]
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


def _messages_error(chunk):
    """Anthropic's `error` event ({"type": "error", "error": {type, message}}); an untyped {"error": …} too."""
    kind = chunk.get("type")
    if kind == "error":
        inner = chunk.get("error")
        return inner if isinstance(inner, dict) else {"message": str(inner)}
    return chunk.get("error") if kind is None else None


def _messages_error_event(error, request_id):
    """Anthropic's error event, which its SDKs raise as the class its status maps to."""
    return b"event: error\ndata: " + orjson.dumps(error.to_anthropic(request_id)) + b"\n\n"


RESPONSES = Dialect(
    error_of=_responses_error,
    finished=lambda chunk: chunk.get("type") in RESPONSE_ENDS,
    error_event=_responses_error_event,
    after_error=b"",
    watch=tuple(f'"{end}"'.encode() for end in RESPONSE_ENDS),
)
MESSAGES = Dialect(
    error_of=_messages_error,
    finished=lambda chunk: chunk.get("type") == "message_stop",
    error_event=_messages_error_event,
    after_error=b"",
    watch=(b'"message_stop"',),
)
