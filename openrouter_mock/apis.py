"""OpenRouter's Responses (/responses) and Messages (/messages) APIs: each request is read as a chat request
(so the same answer, markers and faults apply) and the chat Plan is written in that API's format."""

from . import encode
from .faults import mid_stream_error
from .validate import text_of
from .wire import dumps, loads

DONE = b"data: [DONE]\n\n"


def named(kind, obj) -> bytes:
    """One SSE event with an `event:` line, as Responses and Messages send them."""
    return b"event: " + kind.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


def _pieces(plan):
    text, n = plan.text or "", plan.markers.chunks
    return [text[i * len(text) // n : (i + 1) * len(text) // n] for i in range(n)]


def _chat_tools(tools, schema_key):
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


# ------------------------------------------------------------------------------------------------ Responses
def responses_to_chat(body) -> dict:
    """A Responses request as the chat request it means."""
    messages = [{"role": "system", "content": body["instructions"]}] if body.get("instructions") else []
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else items or []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            content = item.get("content")
            messages.append(
                {"role": item.get("role", "user"), "content": content if isinstance(content, str) else _texts(content)}
            )
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function"}
            call["function"] = {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else dumps(output).decode()
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
    _merge_calls(messages)
    chat = {k: body[k] for k in ("model", "models", "stream", "reasoning") if k in body}
    chat["messages"] = messages
    chat["tools"] = _chat_tools(body.get("tools"), "parameters")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("name"):
        choice = {"type": "function", "function": {"name": choice["name"]}}
    if choice is not None:
        chat["tool_choice"] = choice
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.get("name"), "schema": fmt.get("schema")},
        }
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return chat


def _texts(parts):
    texts = [p.get("text", "") for p in parts or () if isinstance(p, dict) and "text" in p]
    return [{"type": "text", "text": t} for t in texts] or ""


def _merge_calls(messages):
    """Consecutive function_call items are one assistant turn with several tool_calls."""
    i = 1
    while i < len(messages):
        prev, cur = messages[i - 1], messages[i]
        if prev.get("tool_calls") and cur.get("tool_calls") and prev["role"] == cur["role"] == "assistant":
            prev["tool_calls"] += cur["tool_calls"]
            del messages[i]
        else:
            i += 1


def _response_usage(plan):
    u = plan.usage
    return {
        "input_tokens": u["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": u["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": u["completion_tokens_details"]["reasoning_tokens"]},
        "total_tokens": u["total_tokens"],
        "cost": u["cost"],
    }


def _output(plan):
    if plan.tool_calls:
        return [
            {
                "type": "function_call",
                "id": "fc_" + c["id"][5:],
                "call_id": c["id"],
                "name": c["function"]["name"],
                "arguments": c["function"]["arguments"],
                "status": "completed",
            }
            for c in plan.tool_calls
        ]
    content = [{"type": "output_text", "text": plan.text, "annotations": []}]
    return [
        {"type": "message", "id": "msg_" + plan.id[4:], "status": "completed", "role": "assistant", "content": content}
    ]


class Responses:
    """The Responses object and its named events."""

    @staticmethod
    def completion(plan, finish_error=False):
        body = {"id": plan.id, "object": "response", "created_at": plan.created, "model": plan.model}
        body.update(status="completed", output=_output(plan), error=None, incomplete_details=None)
        body.update(parallel_tool_calls=True, tool_choice="auto", tools=[], usage=_response_usage(plan))
        if finish_error:
            body.update(
                status="failed", output=[], error={"code": "server_error", "message": mid_stream_error()["message"]}
            )
        return body

    @staticmethod
    def _event(plan, kind, **fields):
        plan.seq = getattr(plan, "seq", -1) + 1
        return named(kind, {"type": kind, "sequence_number": plan.seq, **fields})

    @classmethod
    def opening(cls, plan):
        start = {**cls.completion(plan), "status": "in_progress", "output": [], "usage": None}
        events = [cls._event(plan, "response.created", response=start)]
        events.append(cls._event(plan, "response.in_progress", response=start))
        if not plan.tool_calls:
            item = {**_output(plan)[0], "status": "in_progress", "content": []}
            events.append(cls._event(plan, "response.output_item.added", output_index=0, item=item))
            part = {"type": "output_text", "text": "", "annotations": []}
            events.append(
                cls._event(
                    plan, "response.content_part.added", item_id=item["id"], output_index=0, content_index=0, part=part
                )
            )
        return events

    @classmethod
    def body(cls, plan):
        if plan.tool_calls:
            events = []
            for i, item in enumerate(_output(plan)):
                added = {**item, "arguments": "", "status": "in_progress"}
                events.append(cls._event(plan, "response.output_item.added", output_index=i, item=added))
                events.append(
                    cls._event(
                        plan,
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=i,
                        delta=item["arguments"],
                    )
                )
            return events
        item_id = _output(plan)[0]["id"]
        return [
            cls._event(
                plan,
                "response.output_text.delta",
                item_id=item_id,
                output_index=0,
                content_index=0,
                delta=piece,
                logprobs=[],
            )
            for piece in _pieces(plan)
        ]

    @classmethod
    def closing(cls, plan):
        events = []
        for i, item in enumerate(_output(plan)):
            if item["type"] == "function_call":
                events.append(
                    cls._event(
                        plan,
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=i,
                        arguments=item["arguments"],
                    )
                )
            else:
                part = item["content"][0]
                common = {"item_id": item["id"], "output_index": i, "content_index": 0}
                events.append(cls._event(plan, "response.output_text.done", **common, text=part["text"], logprobs=[]))
                events.append(cls._event(plan, "response.content_part.done", **common, part=part))
            events.append(cls._event(plan, "response.output_item.done", output_index=i, item=item))
        events.append(cls._event(plan, "response.completed", response=cls.completion(plan)))
        return events

    @classmethod
    def error(cls, plan):
        failure = mid_stream_error()
        return cls._event(plan, "error", code=str(failure["code"]), message=failure["message"], param=None)


# ------------------------------------------------------------------------------------------------- Messages
def messages_to_chat(body) -> dict:
    """An Anthropic Messages request as the chat request it means."""
    system = body.get("system")
    messages = (
        [{"role": "system", "content": system if isinstance(system, str) else text_of(_texts(system))}]
        if system
        else []
    )
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            messages.extend(_anthropic_turn(message))
    chat = {k: body[k] for k in ("model", "models", "stream") if k in body}
    chat["messages"] = messages
    chat["tools"] = _chat_tools(body.get("tools"), "input_schema")
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
            text = result if isinstance(result, str) else text_of(_texts(result))
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
            for p in _pieces(plan)
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
