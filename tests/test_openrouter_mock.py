"""The OpenRouter stand-in over real sockets: wire shapes, validation, tool calls, faults, records."""

import base64
import json
import re
import subprocess
import sys
import time
from decimal import Decimal

import pytest
import requests

from openrouter_mock import MockOpenRouter
from tests.conftest import MOCK_OTHER_MODELS, MODEL_FIELDS

KEY = "sk-or-v1-test"
GEN_ID = re.compile(r"gen-\d{10}-[A-Za-z0-9]{20}")
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
AUDIO = {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"RIFF....WAVE").decode(), "format": "wav"}}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]
PREMIUM = [
    "anthropic/claude-opus-4.5",
    "anthropic/claude-sonnet-4.5",
    "openai/gpt-5.2",
    "openai/gpt-5.2-pro",
    "openai/o1-pro",
    "openai/gpt-4o",
    "openai/gpt-4o-audio-preview",
    "google/gemini-2.5-pro",
    "google/gemini-2.5-flash",
    "google/gemini-3-flash-preview",
]
OTHERS = MOCK_OTHER_MODELS


@pytest.fixture(scope="module")
def mock():
    with MockOpenRouter(api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(mock):
    mock.reset()


@pytest.fixture
def http():
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {KEY}"
        yield session


def user(text):
    return [{"role": "user", "content": text}]


def post_chat(http, mock, timeout=5, **body):
    body.setdefault("model", "openai/gpt-4o")
    return http.post(mock.url + "/chat/completions", json=body, timeout=timeout, stream=body.get("stream", False))


def sse_events(response):
    """Split a streamed body into its events (comments and data lines), without the blank separators."""
    return [ev for ev in response.content.decode().split("\n\n") if ev]


def data_objects(events):
    return [json.loads(ev[6:]) for ev in events if ev.startswith("data: ") and ev != "data: [DONE]"]


def assert_or_error(response, status, message=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == status
    assert body["user_id"] == "user_mock"
    if message is not None:
        assert body["error"]["message"] == message
    return body["error"]


# ----------------------------------------------------------------------------------------------- auth
@pytest.mark.parametrize("path", ["/models", "/key", "/auth/key", "/credits"])
def test_auth_required_on_every_endpoint(mock, path):
    assert requests.get(mock.url + path).json() == {"error": {"message": "No auth credentials found", "code": 401}}
    wrong = requests.get(mock.url + path, headers={"Authorization": "Bearer sk-or-v1-nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"error": {"message": "User not found.", "code": 401}}


def test_auth_on_chat(mock):
    r = requests.post(mock.url + "/chat/completions", json={"messages": user("hi")})
    assert r.status_code == 401
    assert r.json() == {"error": {"message": "No auth credentials found", "code": 401}}
    r = requests.post(mock.url + "/chat/completions", json={"messages": user("hi")}, headers={"Authorization": "x"})
    assert r.json()["error"]["message"] == "No auth credentials found"


# ----------------------------------------------------------------------------------------- validation
REFUSALS = [
    ({"messages": []}, 400, 'Input required: specify "prompt" or "messages"'),
    ({"messages": None}, 400, 'Input required: specify "prompt" or "messages"'),
    ({"models": ["openai/gpt-4o"] * 4}, 400, "'models' array must have 3 items or fewer."),
    ({"model": "openai/gpt-9"}, 400, "openai/gpt-9 is not a valid model ID"),
    ({"model": "anthropic/claude-sonnet-4-5"}, 400, "anthropic/claude-sonnet-4-5 is not a valid model ID"),
    ({"model": None, "models": ["nope/nope"]}, 400, "nope/nope is not a valid model ID"),
    (
        {
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}],
            "model": "meta-llama/llama-3.3-70b-instruct",
        },
        404,
        "No endpoints found that support image input",
    ),
    ({"messages": [{"role": "user", "content": [AUDIO]}]}, 404, "No endpoints found that support input audio"),
]


@pytest.mark.parametrize(("overrides", "status", "message"), REFUSALS)
def test_refusals(http, mock, overrides, status, message):
    body = {"messages": user("hi"), "model": "openai/gpt-4o", **overrides}
    assert_or_error(post_chat(http, mock, **body), status, message)


def _media(part):
    return [{"role": "user", "content": [{"type": "text", "text": "look"}, part]}]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "data:audio/wav;base64,UklGRg==", "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg=="}},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,###notbase64"}},
    ],
)
def test_bad_media_parts_are_400(http, mock, part):
    error = assert_or_error(post_chat(http, mock, model="google/gemini-2.5-flash", messages=_media(part)), 400)
    assert "messages[0]" in error["message"]


def test_good_media_parts_pass(http, mock):
    image = {"type": "image_url", "image_url": {"url": PNG}}
    assert post_chat(http, mock, model="openai/gpt-4o", messages=_media(image)).status_code == 200
    url = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}
    assert post_chat(http, mock, model="openai/gpt-4o", messages=_media(url)).status_code == 200
    r = post_chat(http, mock, model="google/gemini-2.5-flash", messages=_media(AUDIO))
    assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: look"
    assert post_chat(http, mock, model="mistralai/voxtral-small-24b-2507", messages=_media(AUDIO)).ok


def test_body_not_json_is_400(http, mock):
    r = http.post(mock.url + "/chat/completions", data=b"{nope", headers={"Content-Type": "application/json"})
    assert_or_error(r, 400)
    assert mock.requests[-1].body is None and mock.requests[-1].raw == b"{nope"


def test_tools_to_a_model_without_tools_is_404(http, mock):
    error = assert_or_error(post_chat(http, mock, model="openai/o1-pro", messages=user("x"), tools=TOOLS), 404)
    assert error["message"].startswith("No endpoints found that support tool use")


def _call(cid, name="get_weather", args="{}"):
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def test_tool_message_must_answer_a_call(http, mock):
    messages = [
        *user("hi"),
        {"role": "assistant", "content": None, "tool_calls": [_call("call_a")]},
        {"role": "tool", "tool_call_id": "call_zzz", "content": "x"},
    ]
    assert "call_zzz" in assert_or_error(post_chat(http, mock, messages=messages, tools=TOOLS), 400)["message"]
    orphan = [*user("hi"), {"role": "tool", "tool_call_id": "call_a", "content": "x"}]
    assert_or_error(post_chat(http, mock, messages=orphan), 400)


def test_unanswered_tool_calls_are_refused(http, mock):
    assistant = {"role": "assistant", "content": None, "tool_calls": [_call("call_a"), _call("call_b")]}
    partial = [*user("hi"), assistant, {"role": "tool", "tool_call_id": "call_a", "content": "x"}, *user("next")]
    error = assert_or_error(post_chat(http, mock, messages=partial, tools=TOOLS), 400)
    assert "call_b" in error["message"] and "call_a" not in error["message"]
    trailing = [*user("hi"), assistant]
    assert_or_error(post_chat(http, mock, messages=trailing, tools=TOOLS), 400)


def test_model_resolution(http, mock):
    r = post_chat(http, mock, model="openai/gpt-4o:nitro", messages=user("a"))
    assert r.json()["model"] == "openai/gpt-4o:nitro"
    r = post_chat(http, mock, model=None, models=["google/gemini-2.5-flash", "openai/gpt-4o"], messages=user("a"))
    assert r.json()["model"] == "google/gemini-2.5-flash"
    r = http.post(mock.url + "/chat/completions", json={"messages": user("a")})
    assert r.json()["model"] == "anthropic/claude-sonnet-4.5"
    assert post_chat(http, mock, model="mock/anything", messages=user("a")).json()["provider"] == "Mock"
    r = http.post(mock.url + "/chat/completions", json={"prompt": "legacy", "model": "openai/gpt-4o"})
    assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: legacy"


# ------------------------------------------------------------------------------------------ replies
def test_plain_json_reply(http, mock):
    r = post_chat(
        http,
        mock,
        messages=[{"role": "system", "content": "be brief"}, *user("Hello mock")],
        usage={"include": True},
        transforms=["middle-out"],
        stream_options={"include_usage": True},
        provider={"order": ["openai"]},
        headers_ignored=True,
    )
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert GEN_ID.fullmatch(body["id"]) and r.headers["X-Generation-Id"] == body["id"]
    assert set(body) == {"id", "provider", "model", "object", "created", "choices", "system_fingerprint", "usage"}
    assert (body["provider"], body["model"], body["object"]) == ("OpenAI", "openai/gpt-4o", "chat.completion")
    assert abs(body["created"] - time.time()) < 5
    choice = body["choices"][0]
    assert choice["finish_reason"] == choice["native_finish_reason"] == "stop"
    assert choice["logprobs"] is None and choice["index"] == 0
    assert choice["message"] == {
        "role": "assistant",
        "content": "Mock reply to: Hello mock",
        "refusal": None,
        "reasoning": None,
    }
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["is_byok"] is False and usage["cost"] > 0
    assert set(usage["prompt_tokens_details"]) >= {"cached_tokens"}
    assert usage["cost_details"]["upstream_inference_cost"] is None
    assert set(usage["completion_tokens_details"]) >= {"reasoning_tokens"}
    rec = mock.requests[-1]
    assert (rec.method, rec.path, rec.model, rec.stream, rec.finished, rec.status) == (
        "POST",
        "/api/v1/chat/completions",
        "openai/gpt-4o",
        False,
        True,
        200,
    )
    assert rec.headers["authorization"] == f"Bearer {KEY}" and rec["headers"]["Content-Type"] == "application/json"
    assert rec.body["messages"][-1]["content"] == "Hello mock" and json.loads(rec.raw) == rec.body
    assert rec.client_disconnected is False and rec.events == [] and rec.received_at <= time.time()


def test_reply_joins_text_parts_and_truncates(http, mock):
    parts = [
        {"type": "text", "text": "first"},
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "text", "text": "second"},
    ]
    r = post_chat(http, mock, messages=[{"role": "user", "content": parts}])
    assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: first second"
    r = post_chat(http, mock, messages=user("x" * 500))
    assert r.json()["choices"][0]["message"]["content"] == "Mock reply to: " + "x" * 200


def test_full_stream(http, mock):
    r = post_chat(http, mock, stream=True, messages=user("Stream please"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/event-stream" and r.headers["Transfer-Encoding"] == "chunked"
    chunks = list(r.raw.read_chunked(decode_content=False))
    assert all(c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)  # one event per HTTP chunk
    events = [c.decode().rstrip("\n") for c in chunks]
    assert events[0] == ": OPENROUTER PROCESSING" and events[-1] == "data: [DONE]"
    objs = data_objects(events)
    gen = r.headers["X-Generation-Id"]
    assert all(
        o["id"] == gen
        and o["object"] == "chat.completion.chunk"
        and o["model"] == "openai/gpt-4o"
        and o["provider"] == "OpenAI"
        for o in objs
    )
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [o["choices"][0]["delta"]["content"] for o in objs[1:4]]
    assert len(content) == 3 and "".join(content) == "Mock reply to: Stream please"
    assert objs[4]["choices"][0]["finish_reason"] == "stop"
    assert objs[5]["choices"] == [] and objs[5]["usage"]["total_tokens"] > 0
    assert len(objs) == 6
    rec = mock.requests[-1]
    assert mock.wait_for(lambda: rec.finished)
    assert rec.stream is True and [ev for _, ev in rec.events] == chunks


def test_stream_chunks_interval_and_keepalive(http, mock):
    r = post_chat(http, mock, stream=True, messages=user("abcdefgh [[chunks:5]] [[interval_ms:60]] [[keepalive]]"))
    events = sse_events(r)
    objs = data_objects(events)
    assert len(objs) == 1 + 5 + 2
    assert "".join(o["choices"][0]["delta"]["content"] for o in objs[1:6]).startswith("Mock reply to: abcdefgh")
    assert events.count(": OPENROUTER PROCESSING") == 1 + 6  # the first, then one in each of the 6 gaps
    rec = mock.requests[-1]
    content_times = [t for t, ev in rec.events if b'"content":"' in ev and b'"finish_reason":null' in ev][1:]
    assert len(content_times) == 5
    gaps = [b - a for a, b in zip(content_times, content_times[1:], strict=False)]
    assert all(0.055 <= g < 0.5 for g in gaps), gaps
    for (t0, ev), (t1, nxt) in zip(rec.events, rec.events[1:], strict=False):
        if ev.startswith(b": ") and nxt.startswith(b"data: {") and t0 > rec.events[1][0]:
            assert t1 - t0 >= 0.025  # the keep-alive sits half-way through the interval


# --------------------------------------------------------------------------------------- tool calls
def _tool_message(r):
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    return choice, choice["message"]


def test_single_tool_call_marker(http, mock):
    choice, msg = _tool_message(post_chat(http, mock, messages=user("weather? [[call:get_weather]]"), tools=TOOLS))
    assert choice["finish_reason"] == "tool_calls" and msg["content"] is None
    (call,) = msg["tool_calls"]
    assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"]) and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": "{}"}


def test_several_calls_with_raw_arguments(http, mock):
    text = 'go [[call:get_weather:{"city": "Paris"}]] and [[call:get_time:not json]] [[call:get_weather]]'
    _, msg = _tool_message(post_chat(http, mock, messages=user(text), tools=TOOLS))
    assert [c["function"] for c in msg["tool_calls"]] == [
        {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"name": "get_time", "arguments": "not json"},
        {"name": "get_weather", "arguments": "{}"},
    ]
    assert len({c["id"] for c in msg["tool_calls"]}) == 3


def test_markers_without_tools_or_with_none_give_text(http, mock):
    _, msg = _tool_message(post_chat(http, mock, messages=user("[[call:get_weather]]")))
    assert msg["content"] == "Mock reply to: [[call:get_weather]]" and "tool_calls" not in msg
    _, msg = _tool_message(post_chat(http, mock, messages=user("[[call:x]]"), tools=TOOLS, tool_choice="none"))
    assert msg["content"].startswith("Mock reply to") and "tool_calls" not in msg
    _, msg = _tool_message(post_chat(http, mock, messages=user("plain"), tools=TOOLS, tool_choice="auto"))
    assert msg["content"] == "Mock reply to: plain"


def test_forced_and_required_tool_choice(http, mock):
    forced = {"type": "function", "function": {"name": "get_time"}}
    _, msg = _tool_message(post_chat(http, mock, messages=user("hi"), tools=TOOLS, tool_choice=forced))
    assert [c["function"] for c in msg["tool_calls"]] == [{"name": "get_time", "arguments": "{}"}]
    text = '[[call:get_weather]] [[call:get_time:{"tz":"UTC"}]]'
    _, msg = _tool_message(post_chat(http, mock, messages=user(text), tools=TOOLS, tool_choice=forced))
    assert [c["function"] for c in msg["tool_calls"]] == [{"name": "get_time", "arguments": '{"tz":"UTC"}'}]
    _, msg = _tool_message(post_chat(http, mock, messages=user("hi"), tools=TOOLS, tool_choice="required"))
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_weather"]


def _loop(text, results=("sunny", "12:00")):
    calls = [_call("call_1"), _call("call_2", "get_time")]
    tools = [{"role": "tool", "tool_call_id": c["id"], "content": r} for c, r in zip(calls, results, strict=True)]
    return [*user(text), {"role": "assistant", "content": None, "tool_calls": calls}, *tools]


def test_tool_results_answer(http, mock):
    _, msg = _tool_message(post_chat(http, mock, messages=_loop("[[call:get_weather]]"), tools=TOOLS))
    assert msg["content"] == "Tool results: sunny; 12:00" and "tool_calls" not in msg
    parts = _loop("q")
    parts[-1]["content"] = [{"type": "text", "text": "12:30"}]
    _, msg = _tool_message(post_chat(http, mock, messages=parts))
    assert msg["content"] == "Tool results: sunny; 12:30"


def test_always_call_keeps_calling(http, mock):
    choice, msg = _tool_message(post_chat(http, mock, messages=_loop("[[call:get_time]] [[always_call]]"), tools=TOOLS))
    assert choice["finish_reason"] == "tool_calls"
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_time"]


def test_streamed_tool_calls(http, mock):
    text = '[[call:get_weather:{"city":"Oslo"}]] [[call:get_time]]'
    objs = data_objects(sse_events(post_chat(http, mock, stream=True, messages=user(text), tools=TOOLS)))
    calls = {}
    for obj in objs:
        for choice in obj["choices"]:
            for delta in choice["delta"].get("tool_calls") or []:
                slot = calls.setdefault(delta["index"], {"id": None, "name": None, "arguments": ""})
                slot["id"] = delta.get("id", slot["id"])
                slot["name"] = delta.get("function", {}).get("name", slot["name"])
                slot["arguments"] += delta.get("function", {}).get("arguments", "")
    assert [(c["name"], c["arguments"]) for c in calls.values()] == [
        ("get_weather", '{"city":"Oslo"}'),
        ("get_time", "{}"),
    ]
    first = objs[1]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"]["arguments"] == "" and first["type"] == "function" and first["id"].startswith("call_")
    assert objs[-2]["choices"][0]["finish_reason"] == "tool_calls" and objs[-1]["choices"] == []


def test_gemini3_reasoning_details_echo_and_requirement(http, mock):
    model = "google/gemini-3-flash-preview"
    _, msg = _tool_message(post_chat(http, mock, model=model, messages=user("[[call:get_time]]"), tools=TOOLS))
    assert msg["reasoning"] and msg["reasoning_details"][0]["format"] == "google-gemini-v1"
    assert msg["reasoning_details"][1]["id"] == msg["tool_calls"][0]["id"]
    history = [
        *user("[[call:get_time]]"),
        {k: msg[k] for k in ("role", "content", "tool_calls")},
        {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "12:00"},
    ]
    error = assert_or_error(post_chat(http, mock, model=model, messages=history, tools=TOOLS), 400)
    assert "thought_signature" in error["metadata"]["raw"]
    history[1]["reasoning_details"] = msg["reasoning_details"]
    _, msg = _tool_message(post_chat(http, mock, model=model, messages=history, tools=TOOLS))
    assert msg["content"] == "Tool results: 12:00"


def test_reasoning_request_echoes_reasoning(http, mock):
    _, msg = _tool_message(post_chat(http, mock, messages=user("hi"), reasoning={"effort": "low"}))
    assert msg["reasoning"] and msg["reasoning_details"][0]["type"] == "reasoning.text"
    _, msg = _tool_message(post_chat(http, mock, messages=user("hi"), reasoning={"exclude": True}))
    assert msg["reasoning"] is None and "reasoning_details" not in msg
    # without reasoning the mock does not demand reasoning_details back
    assert post_chat(http, mock, messages=_loop("x"), tools=TOOLS).status_code == 200


# ------------------------------------------------------------------------------------------- faults
ERRORS = {
    "400": (400, "Invalid request (mock fault 400)"),
    "400-provider": (400, "Provider returned error"),
    "401": (401, "User not found."),
    "402": (402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
    "403": (403, None),
    "403-key": (403, "Key limit exceeded (daily limit). Manage it using https://openrouter.ai/settings/keys"),
    "404": (404, "No endpoints found for openai/gpt-4o."),
    "408": (408, "Operation timed out. Please try again later."),
    "413": (413, "Downloaded image content cannot exceed 30MB"),
    "422": (422, None),
    "429": (429, "Rate limit exceeded: free-models-per-min."),
    "429-bare": (429, None),
    "500": (500, "Internal Server Error"),
    "502": (502, "Provider returned error"),
    "503": (503, "Service temporarily unavailable"),
    "524": (524, "Request timed out. Please try again later."),
    "529": (529, "Provider returned error"),
}


@pytest.mark.parametrize("fault", list(ERRORS))
@pytest.mark.parametrize("stream", [False, True])
def test_error_faults(http, mock, fault, stream):
    status, message = ERRORS[fault]
    r = post_chat(http, mock, stream=stream, messages=user(f"violent words [[fault:{fault}]]"))
    assert r.headers["Content-Type"] == "application/json"
    error = assert_or_error(r, status, message)
    if fault == "403":
        assert error["metadata"]["reasons"] == ["violence"]
        assert error["metadata"]["flagged_input"].startswith("violent words")
        assert error["metadata"]["provider_name"] == "OpenAI"
        assert error["metadata"]["model_slug"] == "openai/gpt-4o"
    if fault == "403-key":
        assert "metadata" not in error
    if fault == "429":
        assert r.headers["Retry-After"] == "7" and r.headers["X-RateLimit-Remaining"] == "0"
        assert error["metadata"]["headers"]["X-RateLimit-Limit"] == r.headers["X-RateLimit-Limit"] == "20"
        assert int(error["metadata"]["headers"]["X-RateLimit-Reset"]) > time.time() * 1000
    if fault == "429-bare":
        assert "Retry-After" not in r.headers and "X-RateLimit-Limit" not in r.headers
    if fault in ("502", "400-provider", "529"):
        assert json.loads(error["metadata"]["raw"]) and error["metadata"]["provider_name"]


def test_fault_by_model_id_and_unknown_fault(http, mock):
    r = post_chat(http, mock, model="mock/fault-502", messages=user("hi"))
    assert_or_error(r, 502, "Provider returned error")
    assert mock.requests[-1].model == "mock/fault-502"
    assert_or_error(
        post_chat(http, mock, model="mock/fault-bogus", messages=user("hi")), 400, "Unknown mock fault: bogus"
    )


def test_slow(http, mock):
    start = time.monotonic()
    r = post_chat(http, mock, messages=user("[[fault:slow]] [[delay_ms:150]]"))
    assert r.status_code == 200 and time.monotonic() - start >= 0.15


def test_silence_until_client_leaves(mock):
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            mock.url + "/chat/completions",
            json={"model": "mock/fault-silence", "messages": user("x")},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=(2, 0.3),
        )
    rec = mock.last("/chat/completions")
    assert mock.wait_for(lambda: rec.client_disconnected, timeout=3)
    assert rec.finished is False and rec.status is None


def test_drop(http, mock):
    with pytest.raises(requests.exceptions.ConnectionError):
        post_chat(http, mock, messages=user("[[fault:drop]]"))
    assert mock.wait_for(lambda: mock.last("/chat/completions").finished)
    assert mock.last("/chat/completions").status is None


def test_invalid_json_and_error_200(http, mock):
    r = post_chat(http, mock, messages=user("[[fault:invalid-json]]"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = post_chat(http, mock, messages=user("[[fault:error-200]]"))
    assert r.status_code == 200 and set(r.json()) == {"error", "user_id"}
    assert r.json()["error"]["code"] == 502
    events = sse_events(post_chat(http, mock, stream=True, messages=user("[[fault:error-200]]")))
    assert events[0].startswith(":") and set(json.loads(events[1][6:])) == {"error", "user_id"}
    assert "data: [DONE]" not in events
    events = sse_events(post_chat(http, mock, stream=True, messages=user("[[fault:invalid-json]]")))
    assert events[1] == "data: {not json" and events[-1] == "data: [DONE]"


def test_finish_error(http, mock):
    body = post_chat(http, mock, messages=user("[[fault:finish-error]]")).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "error" and choice["error"]["code"] == 502
    assert choice["message"]["content"] and "usage" in body


def test_stream_error(http, mock):
    events = sse_events(post_chat(http, mock, stream=True, messages=user("[[fault:stream-error]] [[chunks:5]]")))
    objs = data_objects(events)
    assert events[-1] != "data: [DONE]"
    assert [o["choices"][0]["delta"].get("content") for o in objs[1:3]] and len(objs) == 4
    last = objs[-1]
    assert last["error"]["code"] == 502 and last["choices"][0]["finish_reason"] == "error"


def test_stream_drop(http, mock):
    r = post_chat(http, mock, stream=True, messages=user("[[fault:stream-drop]]"))
    lines = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in r.iter_lines():
            lines.append(line)
    assert lines[0] == b": OPENROUTER PROCESSING" and b"data: [DONE]" not in lines
    assert sum(1 for line in lines if line.startswith(b"data: ")) == 3


def test_stream_stall_then_client_leaves(mock):
    r = requests.post(
        mock.url + "/chat/completions",
        stream=True,
        timeout=(2, 0.3),
        json={"model": "openai/gpt-4o", "stream": True, "messages": user("[[fault:stream-stall]]")},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    lines = []
    with pytest.raises(requests.exceptions.ConnectionError):
        for line in r.iter_lines():
            lines.append(line)
    r.close()
    assert sum(1 for line in lines if line.startswith(b"data: ")) == 3
    rec = mock.last("/chat/completions")
    assert mock.wait_for(lambda: rec.client_disconnected, timeout=3)
    assert rec.finished is False


def test_client_disconnect_mid_stream_is_recorded(mock):
    r = requests.post(
        mock.url + "/chat/completions",
        stream=True,
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "openai/gpt-4o", "stream": True, "messages": user("long [[chunks:50]] [[interval_ms:100]]")},
    )
    lines = r.iter_lines()
    assert next(lines) == b": OPENROUTER PROCESSING"
    assert next(line for line in lines if line.startswith(b"data: "))
    r.close()
    rec = mock.last("/chat/completions")
    assert mock.wait_for(lambda reqs: reqs[-1].client_disconnected, timeout=3)
    assert rec.finished is False and len(rec.events) < 10


# ------------------------------------------------------------------------------- models, key, config
def test_models_catalogue(http, mock):
    r = http.get(mock.url + "/models")
    assert r.status_code == 200
    data = r.json()["data"]
    by_id = {m["id"]: m for m in data}
    assert set(PREMIUM + OTHERS) <= set(by_id)
    keys = MODEL_FIELDS
    for m in data:
        assert set(m) == keys, m["id"]
        arch = m["architecture"]
        assert set(arch) == {"modality", "input_modalities", "output_modalities", "tokenizer", "instruct_type"}
        assert arch["modality"] == "+".join(arch["input_modalities"]) + "->" + "+".join(arch["output_modalities"])
        assert all(isinstance(v, str) and Decimal(v) is not None for v in m["pricing"].values())
        assert {"prompt", "completion"} <= set(m["pricing"])
        assert m["top_provider"]["context_length"] == m["context_length"]
    assert by_id["openai/gpt-5.2"]["pricing"]["prompt"] == "0.00000175"
    assert by_id["openai/gpt-5.2"]["pricing"]["completion"] == "0.000014"
    assert by_id["anthropic/claude-opus-4.5"]["pricing"]["completion"] == "0.000025"
    assert by_id["anthropic/claude-sonnet-4.5"]["context_length"] == 1_000_000
    assert by_id["google/gemini-2.5-pro"]["context_length"] == 1_048_576
    assert by_id["openai/o1-pro"]["context_length"] == 200_000
    assert "tools" not in by_id["openai/o1-pro"]["supported_parameters"]
    assert "tools" in by_id["openai/gpt-4o"]["supported_parameters"]
    assert by_id["openai/gpt-4o"]["architecture"]["input_modalities"] == ["text", "image"]
    assert by_id["openai/gpt-4o-audio-preview"]["architecture"]["input_modalities"] == ["text", "audio"]
    assert "audio" in by_id["google/gemini-3-flash-preview"]["architecture"]["input_modalities"]
    assert "audio" in by_id["mistralai/voxtral-small-24b-2507"]["architecture"]["input_modalities"]
    assert by_id["openrouter/auto"]["pricing"] == {"prompt": "-1", "completion": "-1"}
    assert by_id["meta-llama/llama-3.3-70b-instruct:free"]["pricing"]["prompt"] == "0"


def test_model_endpoints(http, mock):
    body = http.get(mock.url + "/models/anthropic/claude-opus-4.5/endpoints").json()["data"]
    assert body["id"] == "anthropic/claude-opus-4.5" and body["endpoints"][0]["provider_name"] == "Anthropic"
    assert body["endpoints"][0]["context_length"] == 200_000
    assert http.get(mock.url + "/models/~anthropic/claude-sonnet-latest/endpoints").status_code == 200
    r = http.get(mock.url + "/models/openai/gpt-99/endpoints")
    assert r.status_code == 404 and r.json()["error"]["code"] == 404


@pytest.mark.parametrize("path", ["/key", "/auth/key"])
def test_key(http, mock, path):
    data = http.get(mock.url + path).json()["data"]
    assert data["label"] == "sk-or-v1-tes...est" and data["limit_remaining"] == 74.5
    assert {"usage", "limit", "limit_reset", "is_free_tier", "rate_limit"} <= set(data)
    assert http.get(mock.url + "/credits").json() == {"data": {"total_credits": 100.5, "total_usage": 25.75}}


def test_configure_faults(http, mock):
    mock.configure(models_fault="500")
    assert http.get(mock.url + "/models").status_code == 500
    mock.configure(models_fault="invalid-json")
    r = http.get(mock.url + "/models")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    mock.configure(models_fault="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(mock.url + "/models")
    mock.configure(models_fault=None, models_delay_ms=120, key_fault="401")
    start = time.monotonic()
    assert http.get(mock.url + "/models").status_code == 200 and time.monotonic() - start >= 0.12
    assert http.get(mock.url + "/key").json() == {"error": {"message": "User not found.", "code": 401}}
    mock.configure(key_fault="500", key_delay_ms=50)
    assert http.get(mock.url + "/auth/key").status_code == 500
    assert mock.config == {"models_fault": None, "models_delay_ms": 120, "key_fault": "500", "key_delay_ms": 50}
    with pytest.raises(ValueError):
        mock.configure(key_fault="drop")
    with pytest.raises(TypeError):
        mock.configure(bogus=1)
    mock.reset()
    assert http.get(mock.url + "/key").status_code == 200 and mock.config["key_fault"] is None


def test_control_endpoints(mock):
    base = mock.base_url
    assert requests.post(base + "/_mock/config", json={"key_fault": "500"}).json()["key_fault"] == "500"
    assert requests.get(mock.url + "/key", headers={"Authorization": f"Bearer {KEY}"}).status_code == 500
    assert requests.post(base + "/_mock/config", json={"key_fault": "nope"}).status_code == 400
    requests.post(
        mock.url + "/chat/completions", json={"messages": user("hi")}, headers={"Authorization": f"Bearer {KEY}"}
    )
    records = requests.get(base + "/_mock/requests").json()
    assert [r["path"] for r in records] == ["/api/v1/key", "/api/v1/chat/completions"]
    assert "raw" not in records[1] and records[1]["body"]["messages"] == user("hi")
    assert records[1]["model"] == "anthropic/claude-sonnet-4.5" and records[1]["finished"] is True
    assert requests.post(base + "/_mock/reset").json() == {"ok": True}
    assert requests.get(base + "/_mock/requests").json() == [] and mock.config["key_fault"] is None
    assert requests.get(base + "/_mock/nothing").status_code == 404


def test_unknown_path_hits_and_wait_for_timeout(http, mock):
    r = http.get(mock.base_url + "/api/v1/nope?x=1")
    assert r.status_code == 404 and "error" in r.json()
    rec = mock.requests[-1]
    assert rec.path == "/api/v1/nope" and rec.query == {"x": "1"}
    http.get(mock.url + "/models")
    http.get(mock.url + "/models")
    assert mock.hits("/models") == 2 and mock.hits("/nope") == 1
    start = time.monotonic()
    assert mock.wait_for(lambda: False, timeout=0.05) is False
    assert time.monotonic() - start < 1


def test_cli_prints_url_and_serves():
    proc = subprocess.Popen(
        [sys.executable, "-m", "openrouter_mock", "--port", "0", "--api-key", "k"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", url)
        assert requests.get(url + "/models", headers={"Authorization": "Bearer k"}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=5)
