"""Function calling: invoke/submit against the stand-in, the loop with a fake model, and the session store."""

import re
import threading
import time
from datetime import UTC, datetime

import pytest
import requests

from core.errors import ConflictError, UpstreamError
from openrouter_mock import MockOpenRouter
from services import tool_loop
from services.builtins import BUILTIN_TOOLS
from services.tool_sessions import MemorySessionStore
from tests.conftest import MOCK_KEY, assert_error, bearer, gateway_app, make_app
from tests.servers import serve_app
from webapp.composition import services_of

BASE = "/api/v2/openrouter"
MODEL = "openai/gpt-4o"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALC = next(tool for tool in BUILTIN_TOOLS if tool["function"]["name"] == "calculate")
ANSWER_KEYS = [
    "session_id",
    "status",
    "stop_reason",
    "model",
    "message",
    "tool_calls",
    "executed_tool_calls",
    "iterations",
    "usage",
    "expires_at",
]
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def user(text):
    return [{"role": "user", "content": text}]


def post(client, path, body, headers):
    """A POST whose response is read and closed, so its concurrency slot is given back."""
    response = client.post(f"{BASE}{path}", json=body, headers=headers)
    response.get_data()
    response.close()
    return response


def invoke(client, headers, text, **fields):
    """POST /tools/invoke with one user message; the weather tool unless `tools` is given."""
    return post(
        client, "/tools/invoke", {"model": MODEL, "messages": user(text), "tools": [WEATHER], **fields}, headers
    )


def submit(client, headers, session_id, outputs):
    body = {"session_id": session_id, "tool_outputs": [{"tool_call_id": i, "output": o} for i, o in outputs]}
    return post(client, "/tools/submit", body, headers)


def ok(response, status="completed", stop_reason="stop"):
    """The answer body, after checking its exact keys, status and stop reason."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ANSWER_KEYS
    assert (body["status"], body["stop_reason"]) == (status, stop_reason)
    assert RFC3339.fullmatch(body["expires_at"])
    return body


def chat_bodies(upstream):
    return [r.body for r in upstream.requests if r.path.endswith("/chat/completions")]


def tool_message(call_id, content):
    return {"role": "tool", "tool_call_id": call_id, "content": content}


# --------------------------------------------------------------------------- built-in list


def test_builtin_list(api, alice):
    response = api.get(f"{BASE}/tools/builtin", headers=alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"object": "list", "data": BUILTIN_TOOLS}
    names = {tool["function"]["name"] for tool in body["data"]}
    assert {
        "get_current_time",
        "calculate",
        "convert_units",
        "date_calculate",
        "generate_random",
        "text_statistics",
    } <= names
    for tool in body["data"]:
        assert tool["type"] == "function" and set(tool["function"]) == {"name", "description", "parameters"}
    assert "X-RateLimit-Limit" not in response.headers  # no bucket
    assert_error(api.get(f"{BASE}/tools/builtin"), 401, "authentication_error")


# --------------------------------------------------------------------------- round trips


def test_caller_tool_round_trip(api, alice, upstream):
    text = 'Weather? [[call:get_weather:{"city":"Paris"}]]'
    first = ok(invoke(api, alice, text), "requires_action", "tool_calls")
    [call] = first["tool_calls"]
    assert call == {
        "id": call["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    assert first["message"]["tool_calls"][0]["id"] == call["id"]
    assert (first["model"], first["executed_tool_calls"], first["iterations"]) == (MODEL, [], 1)
    assert first["session_id"].startswith("tsess_")

    second = ok(submit(api, alice, first["session_id"], [(call["id"], "18C and sunny")]))
    assert second["session_id"] == first["session_id"]
    assert second["message"]["content"] == "Tool results: 18C and sunny"
    assert (second["tool_calls"], second["executed_tool_calls"], second["iterations"]) == ([], [], 1)

    one, two = chat_bodies(upstream)
    assert one["messages"] == user(text)
    assert two["messages"] == [*user(text), first["message"], tool_message(call["id"], "18C and sunny")]
    assert one["tools"] == two["tools"] == [WEATHER]
    assert one["tool_choice"] == two["tool_choice"] == "auto"
    assert one["model"] == two["model"] == MODEL
    assert_error(submit(api, alice, first["session_id"], [(call["id"], "again")]), 409, "conflict_error")


def test_builtin_runs_on_the_server(api, alice, upstream):
    text = 'Compute [[call:calculate:{"expression":"6*7"}]]'
    body = ok(invoke(api, alice, text, tools=[], builtin_tools=["calculate"]))
    [done] = body["executed_tool_calls"]
    assert done == {
        "id": done["id"],
        "name": "calculate",
        "arguments": '{"expression":"6*7"}',
        "output": {"expression": "6*7", "result": 42},
    }
    assert (body["tool_calls"], body["iterations"]) == ([], 2)
    one, two = chat_bodies(upstream)
    assert one["tools"] == two["tools"] == [CALC]
    assert two["messages"][-1] == tool_message(done["id"], '{"expression":"6*7","result":42}')
    assert two["messages"][1]["tool_calls"][0]["id"] == done["id"]
    assert body["message"]["content"] == 'Tool results: {"expression":"6*7","result":42}'
    # Nothing is pending: the session is completed.
    assert_error(submit(api, alice, body["session_id"], []), 409, "conflict_error", "completed")


def test_usage_is_summed_over_the_model_calls(api, alice, upstream):
    body = ok(invoke(api, alice, '[[call:calculate:{"expression":"1+1"}]]', builtin_tools=True))
    replies = [
        requests.post(
            f"{upstream.url}/chat/completions", json=sent, timeout=5, headers={"Authorization": f"Bearer {MOCK_KEY}"}
        ).json()
        for sent in chat_bodies(upstream)
    ]
    assert len(replies) == body["iterations"] == 2
    expected = {
        key: sum(reply["usage"][key] for reply in replies)
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    assert body["usage"] == {**expected, "cost": pytest.approx(sum(r["usage"]["cost"] for r in replies))}
    assert body["usage"]["cost"] > 0


def test_mixed_turn_keeps_builtin_results_and_leaves_callers_pending(api, alice, upstream):
    text = '[[call:calculate:{"expression":"2**10"}]] [[call:get_weather:{"city":"Oslo"}]]'
    first = ok(invoke(api, alice, text, builtin_tools=True), "requires_action", "tool_calls")
    [done], [pending] = first["executed_tool_calls"], first["tool_calls"]
    assert (done["name"], done["output"]["result"], pending["function"]["name"]) == ("calculate", 1024, "get_weather")
    assert first["iterations"] == 1

    second = ok(submit(api, alice, first["session_id"], [(pending["id"], {"temp_c": -3})]))
    assert second["executed_tool_calls"] == []
    sent = chat_bodies(upstream)[1]["messages"]
    assert sent[1:] == [
        first["message"],
        tool_message(done["id"], '{"expression":"2**10","result":1024}'),
        tool_message(pending["id"], '{"temp_c":-3}'),
    ]
    assert len(chat_bodies(upstream)[1]["tools"]) == 1 + len(BUILTIN_TOOLS)


def test_auto_execute_false_returns_builtin_calls_as_pending(api, alice, upstream):
    text = '[[call:calculate:{"expression":"6*7"}]]'
    first = ok(
        invoke(api, alice, text, builtin_tools=["calculate"], auto_execute=False), "requires_action", "tool_calls"
    )
    [pending] = first["tool_calls"]
    assert (pending["function"]["name"], first["executed_tool_calls"]) == ("calculate", [])
    second = ok(submit(api, alice, first["session_id"], [(pending["id"], "42")]))
    assert second["message"]["content"] == "Tool results: 42"
    assert upstream.hits("/chat/completions") == 2


@pytest.mark.parametrize("limit", [None, 1, 3])
def test_max_iterations(api, alice, upstream, limit):
    text = '[[always_call]] [[call:calculate:{"expression":"1+1"}]]'
    fields = {"builtin_tools": ["calculate"]} | ({"max_iterations": limit} if limit else {})
    body = ok(invoke(api, alice, text, **fields), "completed", "max_iterations")
    expected = limit or 5
    assert body["iterations"] == len(body["executed_tool_calls"]) == upstream.hits("/chat/completions") == expected
    assert body["tool_calls"] == [] and body["message"]["tool_calls"]


def test_forced_tool_choice_applies_to_the_first_call_only(api, alice, upstream):
    forced = {"type": "function", "function": {"name": "calculate"}}
    text = 'Anything [[call:calculate:{"expression":"3*3"}]]'
    body = ok(invoke(api, alice, text, builtin_tools=["calculate"], tool_choice=forced))
    assert body["executed_tool_calls"][0]["output"]["result"] == 9
    one, two = chat_bodies(upstream)
    assert (one["tool_choice"], two["tool_choice"]) == (forced, "auto")
    assert one["tools"] == two["tools"] == [WEATHER, CALC]


def test_reasoning_details_are_kept_in_the_conversation(api, alice, upstream):
    gemini = "google/gemini-3-flash-preview"
    text = '[[call:calculate:{"expression":"5+5"}]] [[call:get_weather:{"city":"Rome"}]]'
    first = ok(invoke(api, alice, text, model=gemini, builtin_tools=True), "requires_action", "tool_calls")
    assert first["message"]["reasoning_details"]
    [pending] = first["tool_calls"]
    ok(submit(api, alice, first["session_id"], [(pending["id"], "sunny")]))
    assistant = chat_bodies(upstream)[1]["messages"][1]
    assert assistant["reasoning_details"] == first["message"]["reasoning_details"]


def test_server_side_iterations_keep_reasoning_details(api, alice, upstream):
    text = '[[call:calculate:{"expression":"5+5"}]]'
    body = ok(invoke(api, alice, text, model="google/gemini-3-flash-preview", builtin_tools=["calculate"]))
    assert body["iterations"] == 2
    assert chat_bodies(upstream)[1]["messages"][1]["reasoning_details"]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ('[[call:calculate:{"expression": 6*7]]', "arguments are not valid JSON"),
        ('[[call:calculate:"6*7"]]', "arguments must be a JSON object"),
        ("[[call:calculate:]]", "expression"),  # "" means {}: a missing required argument, not bad JSON
    ],
)
def test_bad_builtin_arguments_are_fed_back_as_errors(api, alice, upstream, marker, expected):
    body = ok(invoke(api, alice, marker, builtin_tools=True))
    [done] = body["executed_tool_calls"]
    assert set(done) == {"id", "name", "arguments", "error"} and expected in done["error"]
    sent = chat_bodies(upstream)[1]["messages"][-1]
    assert sent["tool_call_id"] == done["id"] and expected in sent["content"] and '"error"' in sent["content"]


@pytest.mark.parametrize(
    ("marker", "arguments"),
    [
        ('[[call:get_weather:{"city": Par]]', '{"city": Par'),  # not JSON: passed on as the model sent it
        ("[[call:get_weather:]]", "{}"),  # "" for a tool without arguments means {}
    ],
)
def test_callers_arguments_are_passed_raw(api, alice, marker, arguments):
    body = ok(invoke(api, alice, marker), "requires_action", "tool_calls")
    assert body["tool_calls"][0]["function"]["arguments"] == arguments


def test_empty_builtin_arguments_mean_an_empty_object(api, alice):
    body = ok(invoke(api, alice, "[[call:get_current_time:]]", builtin_tools=True))
    [done] = body["executed_tool_calls"]
    assert done["arguments"] == "{}" and done["output"]["timezone"] == "UTC"


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"stream": True}, "stream", "Streaming is not supported"),
        ({"tools": [{"type": "function", "function": {"name": "calculate"}}]}, "tools.0.function.name", "built-in"),
        ({"tools": [WEATHER, WEATHER]}, "tools.1.function.name", "already named"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools.0.function.name", "64"),
        ({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "tools.0.function.name", "64"),
        ({"tools": [{"function": {"name": "f"}}]}, "tools.0.type", "Missing"),
        ({"builtin_tools": ["calculate", "teleport"]}, "builtin_tools", "teleport"),
        ({"builtin_tools": "all"}, "builtin_tools", "list"),
        ({"max_iterations": 0}, "max_iterations", None),
        ({"max_iterations": 11}, "max_iterations", None),
        ({"auto_execute": "yes"}, "auto_execute", None),
        ({"tools": [], "builtin_tools": False}, "tools", "at least one"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice", "nope"),
        ({"temperature": 3}, "temperature", None),
        ({"surprise": 1}, "surprise", None),
    ],
)
def test_invoke_refusals(client, fields, field, message):
    headers = bearer(client.application)
    response = invoke(client, headers, "hi", **fields)
    error = assert_error(response, 400, "invalid_request_error", message)
    assert field in error["details"], error


def test_submit_refusals(api, alice, gateway, upstream):
    text = '[[call:get_weather:{"city":"A"}]] [[call:get_weather:{"city":"B"}]]'
    first = ok(invoke(api, alice, text), "requires_action", "tool_calls")
    sid, (a, b) = first["session_id"], [call["id"] for call in first["tool_calls"]]
    assert_error(submit(api, alice, "tsess_unknown", [(a, "x"), (b, "y")]), 404, "not_found_error")
    assert_error(submit(api, bearer(gateway, "bob"), sid, [(a, "x"), (b, "y")]), 404, "not_found_error")
    for outputs, named in (
        ([(a, "x")], [b]),
        ([(a, "x"), (b, "y"), ("call_zzz", "z")], ["call_zzz"]),
        ([(a, "x"), (a, "again"), (b, "y")], [a]),
        ([], [a, b]),
    ):
        error = assert_error(submit(api, alice, sid, outputs), 400, "invalid_request_error")
        assert all(name in error["message"] for name in named) and "tool_outputs" in error["details"]
    bad = post(api, "/tools/submit", {"session_id": sid}, alice)
    assert "tool_outputs" in assert_error(bad, 400, "invalid_request_error")["details"]
    assert upstream.hits("/chat/completions") == 1  # no refusal reached the model
    ok(submit(api, alice, sid, [(b, "y"), (a, "x")]))
    assert chat_bodies(upstream)[1]["messages"][-2:] == [tool_message(a, "x"), tool_message(b, "y")]
    assert_error(submit(api, alice, sid, [(a, "x"), (b, "y")]), 409, "conflict_error")


def test_failed_model_call_in_invoke_stores_no_session(api, alice, gateway):
    response = invoke(api, alice, "[[fault:error-200]] [[call:get_weather:{}]]")
    assert_error(response, 502, "upstream_error")
    assert_error(invoke(api, alice, "[[fault:finish-error]]"), 502, "upstream_error")
    assert len(services_of(gateway).tool_sessions) == 0


def test_failed_model_call_in_submit_leaves_the_session_as_it_was():
    with MockOpenRouter(api_key=MOCK_KEY) as mock:
        app = make_app(OPENROUTER_BASE_URL=mock.url, OPENROUTER_API_KEY=MOCK_KEY)
        api, headers = app.test_client(), bearer(app)
        first = ok(invoke(api, headers, '[[call:get_weather:{"city":"X"}]]'), "requires_action", "tool_calls")
        call_id = first["tool_calls"][0]["id"]
        mock.api_key = "sk-or-v1-rotated"  # OpenRouter now refuses our key: the submit's model call fails
        failed = submit(api, headers, first["session_id"], [(call_id, "first try")])
        assert_error(failed, 502, "upstream_error")
        mock.api_key = MOCK_KEY
        ok(submit(api, headers, first["session_id"], [(call_id, "second try")]))
        retried = [r.body for r in mock.requests if r.path.endswith("/chat/completions")][-1]
        assert retried["messages"][1:] == [first["message"], tool_message(call_id, "second try")]


def _racing_submits(app, session_id, call_id, start):
    base_headers = bearer(app)
    statuses = []

    def send(base):
        start()
        body = {"session_id": session_id, "tool_outputs": [{"tool_call_id": call_id, "output": "x"}]}
        statuses.append(requests.post(f"{base}{BASE}/tools/submit", json=body, headers=base_headers, timeout=10))

    return send, statuses


def test_racing_submits_one_continues(gateway, upstream):
    first = ok(
        invoke(gateway.test_client(), bearer(gateway), "[[delay_ms:300]] [[call:get_weather:{}]]"),
        "requires_action",
        "tool_calls",
    )
    barrier = threading.Barrier(2)
    post, responses = _racing_submits(gateway, first["session_id"], first["tool_calls"][0]["id"], barrier.wait)
    with serve_app(gateway) as base:
        threads = [threading.Thread(target=post, args=(base,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert next(r for r in responses if r.status_code == 409).json()["error"]["type"] == "conflict_error"
    assert upstream.hits("/chat/completions") == 2  # one invoke, one submit


def test_submit_while_another_is_under_way_is_409(gateway, upstream):
    first = ok(
        invoke(gateway.test_client(), bearer(gateway), "[[delay_ms:400]] [[call:get_weather:{}]]"),
        "requires_action",
        "tool_calls",
    )
    post, responses = _racing_submits(gateway, first["session_id"], first["tool_calls"][0]["id"], lambda: None)
    with serve_app(gateway) as base:
        leader = threading.Thread(target=post, args=(base,))
        leader.start()
        assert upstream.wait_for(lambda: upstream.hits("/chat/completions") == 2)
        post(base)  # the leader's model call is still being delayed upstream
        leader.join(10)
    assert [r.status_code for r in responses] == [409, 200]
    assert "already being submitted" in responses[0].json()["error"]["message"]


def test_session_expiry(gateway, upstream):
    now = [1_800_000_000.0]
    services_of(gateway).tool_sessions = MemorySessionStore(ttl=60, clock=lambda: now[0])
    api, headers = gateway.test_client(), bearer(gateway)
    first = ok(invoke(api, headers, "[[call:get_weather:{}]]"), "requires_action", "tool_calls")
    assert first["expires_at"] == "2027-01-15T08:01:00Z"  # 1_800_000_000 + 60 s
    now[0] += 59
    assert_error(submit(api, headers, first["session_id"], []), 400, "invalid_request_error")  # still alive
    now[0] += 1
    assert_error(
        submit(api, headers, first["session_id"], [(first["tool_calls"][0]["id"], "x")]), 404, "not_found_error"
    )
    assert upstream.hits("/chat/completions") == 1


def test_expires_at_is_ttl_after_the_last_step(api, alice):
    before = time.time()
    body = ok(invoke(api, alice, "[[call:get_weather:{}]]"), "requires_action", "tool_calls")
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + 900 - 1 <= expires <= time.time() + 900


def test_invoke_and_submit_share_the_quota(upstream):
    app = gateway_app(upstream, RATELIMIT_FUNCTION_CALLING="2/minute")
    api, headers = app.test_client(), bearer(app)
    first = invoke(api, headers, "[[call:get_weather:{}]]")
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    body = ok(first, "requires_action", "tool_calls")
    ok(submit(api, headers, body["session_id"], [(body["tool_calls"][0]["id"], "x")]))
    assert_error(invoke(api, headers, "again"), 429, "rate_limit_error")
    assert_error(submit(api, headers, body["session_id"], []), 429, "rate_limit_error")
    assert api.get(f"{BASE}/tools/builtin", headers=headers).status_code == 200
    assert ok(invoke(api, bearer(app, "bob"), "hi"))["iterations"] == 1  # per user


def test_deadline_stops_new_model_calls(upstream):
    app = gateway_app(upstream, OPENROUTER_TIMEOUT=800)
    # Each call takes 450 ms (under the 800 ms idle timeout), so the deadline passes after the second call
    # (after the first only on a badly overloaded machine); the fake-clock test below pins the count exactly.
    text = '[[always_call]] [[delay_ms:450]] [[call:calculate:{"expression":"1+1"}]]'
    body = ok(
        invoke(app.test_client(), bearer(app), text, builtin_tools=True, max_iterations=10), "completed", "deadline"
    )
    assert body["iterations"] == len(body["executed_tool_calls"]) == upstream.hits("/chat/completions")
    assert body["iterations"] in (1, 2)


# --------------------------------------------------------------------------- the loop, with a fake model


def completion(message, usage=None, finish_reason="stop"):
    return {
        "model": "m/x",
        "choices": [{"finish_reason": finish_reason, "message": message}],
        "usage": usage or {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cost": 0.1},
    }


def calls(*named):
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(named)
        ],
    }


def session_for(**body):
    return tool_loop.new_session("alice", {"messages": user("hi"), "builtin_tools": True, **body})


def test_loop_sums_usage_and_sends_the_choice_once():
    replies = iter([completion(calls(("calculate", '{"expression":"1+2"}'))), completion({"content": "3"})])
    seen = []

    def model(messages, tools, choice):
        seen.append((len(messages), len(tools), choice))
        return next(replies)

    result = tool_loop.run(session_for(), model, "required")
    assert seen == [(1, 6, "required"), (3, 6, "auto")]
    assert result["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6, "cost": 0.2}
    assert (result["stop_reason"], result["iterations"], result["model"]) == ("stop", 2, "m/x")


def test_loop_deadline_uses_the_clock():
    ticks = iter([0.0, 10.0])
    model = lambda *args: completion(calls(("calculate", '{"expression":"1"}')))  # noqa: E731
    session = session_for()
    result = tool_loop.run(session, model, deadline=5.0, clock=lambda: next(ticks))
    assert (result["stop_reason"], result["iterations"], session["state"]) == ("deadline", 2, "completed")


def test_loop_fills_missing_ids_and_refuses_failed_choices():
    message = {"tool_calls": [{"function": {"name": "mine", "arguments": ""}}]}
    session = session_for(builtin_tools=False, tools=[{"type": "function", "function": {"name": "mine"}}])
    result = tool_loop.run(session, lambda *a: completion(message))
    [pending] = result["pending"]
    assert pending["id"].startswith("call_") and pending["function"]["arguments"] == "{}"
    assert session["pending"] == [pending["id"]] and session["state"] == "requires_action"
    failed = completion({"content": "partial"}, finish_reason="error")
    with pytest.raises(UpstreamError):
        tool_loop.run(session_for(), lambda *a: failed)
    with pytest.raises(UpstreamError):
        tool_loop.run(session_for(), lambda *a: {"choices": []})


def test_rfc3339():
    assert tool_loop.rfc3339(0) == "1970-01-01T00:00:00Z"
    assert tool_loop.rfc3339(1_800_000_000.9) == "2027-01-15T08:00:00Z"


# --------------------------------------------------------------------------- the store's atomic steps


def stored(state="requires_action", owner="alice"):
    return {"owner": owner, "state": state, "messages": [{"role": "user", "content": "hi"}], "pending": ["c1"]}


def test_store_refuses_bad_sessions():
    store = MemorySessionStore(ttl=60)
    with pytest.raises(ValueError):
        store.create(stored(state="running"))
    with pytest.raises(TypeError):
        store.create({**stored(), "not_json": object()})  # sessions must be JSON for a shared store
    sid = store.create(stored(state="completed"))
    with pytest.raises(ConflictError):
        store.claim(sid, "alice")
