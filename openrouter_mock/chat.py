"""Chat completions: deciding the deterministic reply (text or tool calls), reasoning and usage."""

import time

from . import behave, catalogue
from .faults import FAULTS, Markers
from .validate import ChatError, resolve_model, text_of, validate_messages
from .wire import call_id, gen_id

_NATIVE_FINISH = {
    "google": {"stop": "STOP", "tool_calls": "STOP"},
    "anthropic": {"stop": "end_turn", "tool_calls": "tool_use"},
}
_REASONING_FORMAT = {"anthropic": "anthropic-claude-v1", "openai": "openai-responses-v1", "google": "google-gemini-v1"}
REASONING_TEXT = "Mock reasoning about the request."


class Plan:
    """Everything decided about one chat request before answering it."""

    __slots__ = (
        "model",
        "stream",
        "markers",
        "fault",
        "id",
        "created",
        "provider",
        "user_text",
        "text",
        "tool_calls",
        "reasoning",
        "reasoning_details",
        "usage",
        "finish_reason",
        "native_finish",
        "seq",  # the next sequence_number of a Responses stream
    )


def prepare(body) -> Plan:
    """Validate a chat request body and decide the answer, or raise ChatError."""
    if not isinstance(body, dict):
        raise ChatError(400, "Request body must be a JSON object")
    messages = body.get("messages")
    if not messages and isinstance(body.get("prompt"), str) and body["prompt"]:
        messages = [{"role": "user", "content": body["prompt"]}]
    if not messages:
        raise ChatError(400, 'Input required: specify "prompt" or "messages"')
    if not isinstance(messages, list):
        raise ChatError(400, "'messages' must be an array")
    model = resolve_model(body)
    entry = catalogue.lookup(model)
    needs = validate_messages(messages, "gemini-3" in model)
    inputs = entry["architecture"]["input_modalities"]
    if "image" in needs and "image" not in inputs:
        raise ChatError(404, "No endpoints found that support image input")
    if "audio" in needs and "audio" not in inputs:
        raise ChatError(404, "No endpoints found that support input audio")
    tools = body.get("tools") or []
    if tools and "tools" not in entry["supported_parameters"]:
        raise ChatError(
            404,
            "No endpoints found that support tool use. To learn more about provider routing, "
            "visit: https://openrouter.ai/docs/provider-routing",
        )

    plan = Plan()
    plan.model, plan.stream = model, body.get("stream") is True
    user_text = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    plan.user_text, plan.markers = user_text, Markers(user_text)
    fault = model[len("mock/fault-") :] if model.startswith("mock/fault-") else plan.markers.fault
    if fault is not None and fault not in FAULTS:
        raise ChatError(400, f"Unknown mock fault: {fault}")
    if fault == "slow" and not plan.markers.delay_ms:
        plan.markers.delay_ms = 2000
    plan.fault = fault
    plan.id, plan.created, plan.provider = gen_id(), int(time.time()), catalogue.provider_name(model)
    _decide_answer(plan, body, messages, tools)
    _add_reasoning(plan, body)
    _add_usage(plan, messages)
    return plan


def _decide_answer(plan, body, messages, tools):
    plan.text, plan.tool_calls = None, None
    last_is_tool = messages[-1].get("role") == "tool"
    choice = body.get("tool_choice")
    if tools and choice != "none" and (not last_is_tool or plan.markers.always_call):
        calls = _calls(plan, tools, choice)
        if calls:
            plan.tool_calls = [
                {"index": i, "id": call_id(), "type": "function", "function": {"name": name, "arguments": args}}
                for i, (name, args) in enumerate(calls)
            ]
    if plan.tool_calls is None:
        if last_is_tool:
            tail = []
            for msg in reversed(messages):
                if msg.get("role") != "tool":
                    break
                tail.append(text_of(msg.get("content")))
            plan.text = "Tool results: " + "; ".join(reversed(tail))
        else:
            answer = behave.json_answer(body.get("response_format"), plan.user_text)
            plan.text = answer if answer is not None else "Mock reply to: " + plan.user_text[:200]
    plan.finish_reason = "tool_calls" if plan.tool_calls else "stop"
    author = plan.model.split("/", 1)[0]
    plan.native_finish = _NATIVE_FINISH.get(author, {}).get(plan.finish_reason, plan.finish_reason)


def _calls(plan, tools, choice):
    """[(name, arguments JSON)]: the [[call:…]] markers when given, else the tools the user's words ask for."""
    schemas = {f.get("name"): f.get("parameters") for f in map(behave._function, tools) if f.get("name")}
    calls = plan.markers.calls
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        name = choice["function"]["name"]
        calls = [(name, next((a for n, a in calls if n == name and a is not None), None))]
    elif not calls:
        calls = [(name, None) for name, _ in behave.choose(tools, plan.user_text, choice)]
    return [
        (name, args if args is not None else behave.arguments(schemas.get(name), plan.user_text))
        for name, args in calls
    ]


def _add_reasoning(plan, body):
    reasoning = body.get("reasoning")
    wanted = isinstance(reasoning, dict) and not reasoning.get("exclude")
    if "gemini-3" not in plan.model and not wanted:
        plan.reasoning = plan.reasoning_details = None
        return
    fmt = _REASONING_FORMAT.get(plan.model.split("/", 1)[0], "unknown")
    details = [{"type": "reasoning.text", "text": REASONING_TEXT, "format": fmt, "index": 0}]
    for i, call in enumerate(plan.tool_calls or []):
        details.append(
            {
                "type": "reasoning.encrypted",
                "data": "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==",
                "id": call["id"],
                "format": fmt,
                "index": i + 1,
            }
        )
    plan.reasoning, plan.reasoning_details = REASONING_TEXT, details


def _add_usage(plan, messages):
    chars = sum(len(text_of(m.get("content"))) for m in messages)
    prompt = 4 * len(messages) + chars // 4
    out = plan.text if plan.text is not None else "".join(c["function"]["arguments"] for c in plan.tool_calls)
    reasoning = 7 if plan.reasoning else 0
    completion = 1 + len(out) // 4 + reasoning
    p_in, p_out = catalogue.prices(plan.model)
    cost_in, cost_out = round(prompt * p_in, 12), round(completion * p_out, 12)
    plan.usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": round(cost_in + cost_out, 12),
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "video_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": cost_in,
            "upstream_inference_completions_cost": cost_out,
        },
        "completion_tokens_details": {"reasoning_tokens": reasoning, "image_tokens": 0},
    }
