"""POST /messages: Anthropic's Messages request read as chat, answered as an Anthropic message or its events."""

from .apis import chat_tools, named, pieces, texts
from .faults import mid_stream_error
from .validate import text_of
from .wire import dumps, loads


def messages_to_chat(body) -> dict:
    """An Anthropic Messages request as the chat request it means."""
    system = body.get("system")
    messages = (
        [{"role": "system", "content": system if isinstance(system, str) else text_of(texts(system))}] if system else []
    )
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            messages.extend(_anthropic_turn(message))
    chat = {k: body[k] for k in ("model", "models", "stream") if k in body}
    chat["messages"] = messages
    chat["tools"] = chat_tools(body.get("tools"), "input_schema")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
        chat["tool_choice"] = (
            {"type": "function", "function": {"name": choice.get("name")}} if kind == "tool" else mapped
        )
    return chat


def _anthropic_turn(message):
    role, content = message.get("role", "user"), message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    out, texts, calls = [], [], []
    for block in content or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "tool_use":
            arguments = dumps(block.get("input") or {}).decode()
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        elif kind == "tool_result":
            result = block.get("content")
            text = result if isinstance(result, str) else text_of(texts(result))
            out.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
    if calls:
        out.append({"role": "assistant", "content": texts or None, "tool_calls": calls})
    elif texts:
        out.append({"role": role, "content": texts})
    return out


def _tool_blocks(plan):
    return [
        {
            "type": "tool_use",
            "id": "toolu_" + c["id"][5:],
            "name": c["function"]["name"],
            "input": loads(c["function"]["arguments"] or "{}"),
        }
        for c in plan.tool_calls
    ]


def _message_usage(plan, output=None):
    u = plan.usage
    usage = {"input_tokens": u["prompt_tokens"], "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    usage["output_tokens"] = u["completion_tokens"] if output is None else output
    return usage


class Messages:
    """The Anthropic message and its named events."""

    @staticmethod
    def completion(plan, finish_error=False):
        content = _tool_blocks(plan) if plan.tool_calls else [{"type": "text", "text": plan.text}]
        body = {
            "id": "msg_" + plan.id[4:],
            "type": "message",
            "role": "assistant",
            "model": plan.model,
            "content": content,
        }
        body.update(stop_reason="tool_use" if plan.tool_calls else "end_turn", stop_sequence=None)
        body["usage"] = {**_message_usage(plan), "cost": plan.usage["cost"]}
        return body

    @classmethod
    def opening(cls, plan):
        start = {**cls.completion(plan), "content": [], "stop_reason": None, "usage": _message_usage(plan, 1)}
        return [named("message_start", {"type": "message_start", "message": start}), named("ping", {"type": "ping"})]

    @staticmethod
    def body(plan):
        if plan.tool_calls:
            events = []
            for i, block in enumerate(_tool_blocks(plan)):
                start = {"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}}
                delta = {"type": "input_json_delta", "partial_json": dumps(block["input"]).decode()}
                events.append(named("content_block_start", start))
                events.append(named("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
            return events
        start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        deltas = [
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
            for p in pieces(plan)
        ]
        return [named("content_block_start", start)] + [named("content_block_delta", d) for d in deltas]

    @classmethod
    def closing(cls, plan):
        count = len(plan.tool_calls) if plan.tool_calls else 1
        events = [named("content_block_stop", {"type": "content_block_stop", "index": i}) for i in range(count)]
        body = cls.completion(plan)
        delta = {"stop_reason": body["stop_reason"], "stop_sequence": None}
        usage = {"output_tokens": plan.usage["completion_tokens"], "cost": plan.usage["cost"]}
        events.append(named("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(named("message_stop", {"type": "message_stop"}))
        return events

    @staticmethod
    def error(plan):
        error = {"type": "api_error", "message": mid_stream_error()["message"]}
        return named("error", {"type": "error", "error": error})
