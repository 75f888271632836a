"""What the chat, Responses and Messages encodings share. A Responses or Messages request is read as the chat
request it means (so the same answer, markers and faults apply) and the chat Plan is written in that API's
format: responses_api.py and messages_api.py."""

from . import encode
from .wire import dumps

DONE = b"data: [DONE]\n\n"


def named(kind, obj) -> bytes:
    """One SSE event with an `event:` line, as Responses and Messages send them."""
    return b"event: " + kind.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def pieces(plan):
    text, n = plan.text or "", plan.markers.chunks
    return [text[i * len(text) // n : (i + 1) * len(text) // n] for i in range(n)]


def chat_tools(tools, schema_key):
    out = []
    for tool in tools or ():
        if isinstance(tool, dict) and tool.get("name") and tool.get("type", "function") in ("function", "custom"):
            function = {"name": tool["name"], "description": tool.get("description") or ""}
            function["parameters"] = tool.get(schema_key) or {"type": "object", "properties": {}}
            out.append({"type": "function", "function": function})
    return out


class Chat:
    """Chat completions: the encodings in encode.py."""

    completion = staticmethod(encode.completion)

    @staticmethod
    def opening(plan):
        return encode.head_events(plan)

    @staticmethod
    def body(plan):
        return encode.body_events(plan)

    @staticmethod
    def closing(plan):
        return [encode.finish_event(plan), encode.usage_event(plan), DONE]

    @staticmethod
    def error(plan):
        return encode.error_event(plan)


def texts(parts):
    """Text parts of a list of content parts or blocks, as chat content parts ("" when there are none)."""
    found = [p.get("text", "") for p in parts or () if isinstance(p, dict) and "text" in p]
    return [{"type": "text", "text": t} for t in found] or ""
