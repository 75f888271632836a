"""Encodings of a chat Plan: the non-streaming body and the SSE chunks."""

from .faults import mid_stream_error
from .wire import dumps


def _head(plan, obj) -> dict:
    out = {
        "id": plan.id,
        "provider": plan.provider,
        "model": plan.model,
        "object": obj,
        "created": plan.created,
    }
    return out


def completion(plan, finish_error=False) -> dict:
    """The non-streaming response body; finish_error gives a partial answer ending in an error."""
    message = {"role": "assistant", "content": plan.text, "refusal": None, "reasoning": plan.reasoning}
    if plan.tool_calls:
        message["tool_calls"] = plan.tool_calls
    if plan.reasoning_details:
        message["reasoning_details"] = plan.reasoning_details
    choice = {
        "logprobs": None,
        "finish_reason": plan.finish_reason,
        "native_finish_reason": plan.native_finish,
        "index": 0,
        "message": message,
    }
    if finish_error:
        message["content"] = (plan.text or "")[: len(plan.text or "") // 2]
        message.pop("tool_calls", None)
        choice.update(finish_reason="error", native_finish_reason="error", error=mid_stream_error())
    body = _head(plan, "chat.completion")
    body["choices"] = [choice]
    if not plan.model.startswith("google/"):
        body["system_fingerprint"] = "fp_mock"
    body["usage"] = plan.usage
    return body


def sse(obj) -> bytes:
    """Encode one SSE data event."""
    return b"data: " + dumps(obj) + b"\n\n"


def chunk(plan, delta, finish=None, native=None) -> bytes:
    """One chat.completion.chunk event with a single choice."""
    body = _head(plan, "chat.completion.chunk")
    body["choices"] = [
        {
            "index": 0,
            "delta": delta,
            "finish_reason": finish,
            "native_finish_reason": native,
            "logprobs": None,
        }
    ]
    return sse(body)


def head_events(plan) -> list:
    """The role chunk, plus a reasoning chunk when the reply carries reasoning."""
    events = [chunk(plan, {"role": "assistant", "content": ""})]
    if plan.reasoning:
        events.append(
            chunk(
                plan,
                {
                    "role": "assistant",
                    "content": "",
                    "reasoning": plan.reasoning,
                    "reasoning_details": plan.reasoning_details,
                },
            )
        )
    return events


def body_events(plan) -> list:
    """Content chunks (the reply split in markers.chunks pieces) or tool-call deltas."""
    if plan.tool_calls:
        events = []
        for call in plan.tool_calls:
            first = {
                "index": call["index"],
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            events.append(chunk(plan, {"role": "assistant", "content": None, "tool_calls": [first]}))
            if call["function"]["arguments"]:
                rest = {"index": call["index"], "function": {"arguments": call["function"]["arguments"]}}
                events.append(chunk(plan, {"role": "assistant", "content": None, "tool_calls": [rest]}))
        return events
    text, n = plan.text, plan.markers.chunks
    return [
        chunk(plan, {"role": "assistant", "content": text[i * len(text) // n : (i + 1) * len(text) // n]})
        for i in range(n)
    ]


def finish_event(plan) -> bytes:
    """The chunk carrying finish_reason."""
    return chunk(plan, {"role": "assistant", "content": ""}, plan.finish_reason, plan.native_finish)


def usage_event(plan) -> bytes:
    """The final usage chunk with empty choices."""
    body = _head(plan, "chat.completion.chunk")
    body["choices"] = []
    body["usage"] = plan.usage
    return sse(body)


def error_event(plan) -> bytes:
    """A mid-stream error chunk (finish_reason 'error', int code 502)."""
    body = _head(plan, "chat.completion.chunk")
    body["error"] = mid_stream_error()
    body["choices"] = [
        {"index": 0, "delta": {"content": ""}, "finish_reason": "error", "native_finish_reason": "error"}
    ]
    return sse(body)
