"""The function-calling loop: call the model, run built-ins on the server, stop when the caller must act."""

import hashlib
import secrets
import time
from datetime import UTC, datetime

import orjson

from core.errors import InvalidRequestError, UpstreamError
from services.builtins import BUILTIN_TOOLS, json_safe, run_builtin
from services.tool_sessions import COMPLETED, REQUIRES_ACTION
from upstream.errors import describe

DEFAULT_MAX_ITERATIONS = 5
# The invoke fields that configure the loop rather than the chat request sent upstream.
LOOP_FIELDS = ("messages", "tools", "builtin_tools", "tool_choice", "auto_execute", "max_iterations")
_BUILTINS_BY_NAME = {tool["function"]["name"]: tool for tool in BUILTIN_TOOLS}


def builtin_selection(selection):
    """The built-in names chosen by `builtin_tools` (a list of names, or true for all)."""
    if selection is True:
        return list(_BUILTINS_BY_NAME)
    return list(dict.fromkeys(selection or ()))


def new_session(owner, body):
    """A session for a validated invoke body: conversation, tools offered, options and loop settings."""
    names = builtin_selection(body.get("builtin_tools"))
    return {
        "owner": owner,
        "options": {key: value for key, value in body.items() if key not in LOOP_FIELDS},
        "messages": list(body["messages"]),
        # Snapshotted, so a session keeps the definitions it started with; re-sent on every model call.
        "tools": list(body.get("tools") or ()) + [_BUILTINS_BY_NAME[name] for name in names],
        "builtin_names": names,
        "auto_execute": body.get("auto_execute", True),
        "max_iterations": body.get("max_iterations", DEFAULT_MAX_ITERATIONS),
        "pending": [],
    }


def add_outputs(session, outputs):
    """Answer the pending calls with the caller's outputs (each exactly once), or raise a 400 naming the ids."""
    pending, ids = session["pending"], [item["tool_call_id"] for item in outputs]
    problems = _id_problems(pending, ids)
    if problems:
        raise InvalidRequestError("; ".join(problems), details={"tool_outputs": problems})
    given = {item["tool_call_id"]: item["output"] for item in outputs}
    for call_id in pending:
        session["messages"].append(_tool_message(call_id, _as_text(given[call_id])))
    session["pending"] = []


def outputs_fingerprint(outputs):
    """The same tool outputs, in any order, have the same fingerprint (a retried submit is recognised)."""
    ordered = sorted(outputs, key=lambda item: str(item.get("tool_call_id")))
    return hashlib.sha256(orjson.dumps(ordered, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _id_problems(pending, ids):
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    unknown = [i for i in dict.fromkeys(ids) if i not in pending]
    missing = [i for i in pending if i not in ids]
    problems = []
    if missing:
        problems.append(f"Missing outputs for pending tool calls: {', '.join(missing)}")
    if unknown:
        problems.append(f"Unknown tool_call_id (not pending in this session): {', '.join(unknown)}")
    if duplicates:
        problems.append(f"Each tool call must be answered once; repeated: {', '.join(duplicates)}")
    return problems


def run(session, call_model, tool_choice="auto", deadline=None, clock=time.monotonic, now=None):
    """Call the model until it answers, calls the caller's functions, or a limit stops it; returns the result."""
    result = {
        "iterations": 0,
        "usage": dict.fromkeys(("prompt_tokens", "completion_tokens", "total_tokens"), 0),
        "executed": [],
        "pending": [],
    }
    result["usage"]["cost"] = 0.0
    while True:
        completion = call_model(session["messages"], session["tools"], tool_choice)
        tool_choice = "auto"  # the caller's choice applies to the first call only
        message = _record_call(result, completion)
        session["messages"].append(message)
        calls = message.get("tool_calls") or []
        result["pending"] = _run_calls(session, calls, result["executed"], now)
        stop = _stop_reason(session, result, calls, deadline, clock)
        if stop:
            return _settle(session, result, stop)


def _stop_reason(session, result, calls, deadline, clock):
    if not calls:
        return "stop"
    if result["pending"]:
        return "tool_calls"
    if result["iterations"] >= session["max_iterations"]:
        return "max_iterations"
    if deadline is not None and clock() >= deadline:
        return "deadline"
    return None


def _settle(session, result, stop_reason):
    result["stop_reason"] = stop_reason
    session["pending"] = [call["id"] for call in result["pending"]]
    session["state"] = REQUIRES_ACTION if session["pending"] else COMPLETED
    return result


def _record_call(result, completion):
    """Count the call, add its usage, and return its assistant message (arguments normalised)."""
    result["iterations"] += 1
    result["model"] = completion.get("model")
    usage = completion.get("usage") if isinstance(completion.get("usage"), dict) else {}
    for key, total in result["usage"].items():
        value = usage.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            result["usage"][key] = round(total + value, 12) if key == "cost" else total + value
    result["message"] = _assistant_message(completion)
    return result["message"]


def _assistant_message(completion):
    """The first choice's message; a failed or empty choice is an upstream error (the turn cannot go on)."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    if choice.get("finish_reason") == "error":
        error = choice.get("error") if isinstance(choice.get("error"), dict) else {}
        raise UpstreamError(f"The model call failed: {describe(error, 'finish_reason error')}")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamError("OpenRouter answered without an assistant message")
    message = {**message, "role": "assistant"}
    calls = message.get("tool_calls")
    if calls and (not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls)):
        raise UpstreamError("OpenRouter answered with malformed tool_calls")
    if calls:
        message["tool_calls"] = [_normalised_call(call) for call in message["tool_calls"]]
    return message


def _normalised_call(call):
    # A tool without parameters may be called with "" (openrouter-upstream.md §4.1): that means {}.
    function = dict(call.get("function") or {})
    if not isinstance(function.get("arguments"), str) or not function["arguments"].strip():
        function["arguments"] = "{}"
    # Some providers omit call ids; the caller needs one to answer the call.
    call_id = call.get("id") or f"call_{secrets.token_hex(12)}"
    return {**call, "id": call_id, "type": "function", "function": function}


def _run_calls(session, calls, executed, now):
    """Run the built-in calls (kept in the conversation); return the calls left for the caller."""
    builtins = set(session["builtin_names"]) if session["auto_execute"] else set()
    pending = []
    for call in calls:
        name, arguments = call["function"].get("name"), call["function"]["arguments"]
        if name not in builtins:
            pending.append({"id": call["id"], "type": "function", "function": {"name": name, "arguments": arguments}})
            continue
        outcome = run_builtin(name, arguments, now=now)
        executed.append({"id": call["id"], "name": name, "arguments": arguments, **outcome})
        session["messages"].append(_tool_message(call["id"], _as_text(outcome.get("output", outcome))))
    return pending


def _tool_message(call_id, content):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _as_text(value):
    """A tool result as the text of a tool message: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else orjson.dumps(json_safe(value)).decode()


def answer(session_id, session, result):
    """The public answer of invoke and submit (API.md, Function calling)."""
    return {
        "session_id": session_id,
        "status": session["state"],
        "stop_reason": result["stop_reason"],
        "model": result.get("model") or session["options"].get("model"),
        "message": result["message"],
        "tool_calls": result["pending"],
        "executed_tool_calls": result["executed"],
        "iterations": result["iterations"],
        "usage": result["usage"],
        "expires_at": rfc3339(session["expires_at"]),
    }


def rfc3339(epoch_seconds):
    """A Unix time as RFC 3339 in UTC, to the second: 2026-01-31T12:00:00Z."""
    moment = datetime.fromtimestamp(int(epoch_seconds), UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
