"""POST /responses: OpenAI's Responses request read as chat, answered as a Responses object or its named events."""

from .apis import chat_tools, named, pieces, texts
from .faults import mid_stream_error
from .wire import dumps


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
                {"role": item.get("role", "user"), "content": content if isinstance(content, str) else texts(content)}
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
    chat["tools"] = chat_tools(body.get("tools"), "parameters")
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
            for piece in pieces(plan)
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
