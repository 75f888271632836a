"""Chat completions through the gateway to the stand-in: what goes upstream, validation, error mapping."""

import pytest

from tests.conftest import MOCK_KEY, assert_error, gateway_app, make_app, token_for
from tests.servers import free_port
from webapp.auth import end_user_id

CHAT = "/api/v2/openrouter/chat/completions"


def user(text="hello", **extra):
    return {"messages": [{"role": "user", "content": text}], **extra}


def post(app, body, sub="alice", **kwargs):
    client = app.test_client()
    with client.post(CHAT, json=body, headers={"Authorization": f"Bearer {token_for(app, sub)}"}, **kwargs) as r:
        r.get_data()
        return r


def sent(upstream):
    return upstream.last("/chat/completions").body


def test_completion_passes_openrouter_body_through(gateway, upstream):
    response = post(gateway, user("hello", model="openai/gpt-4o"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Mock reply to: hello"
    assert set(body["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens", "cost"}
    assert response.headers["X-Generation-Id"] == body["id"]
    assert float(response.headers["X-Gateway-Overhead-Ms"]) >= 0
    assert response.headers["X-RateLimit-Limit"] == "30"


def test_defaults_and_hashed_user_go_upstream(gateway, upstream):
    post(gateway, user(user="caller-chosen-id"))
    assert sent(upstream) == {
        "messages": [{"role": "user", "content": "hello"}],
        "model": "anthropic/claude-sonnet-4.5",
        "max_tokens": 4096,
        "user": end_user_id("alice"),
    }
    post(gateway, user(), sub="bob")
    assert sent(upstream)["user"] == end_user_id("bob") != end_user_id("alice")


def test_upstream_headers(upstream):
    app = gateway_app(
        upstream,
        OPENROUTER_SITE_URL="https://apps.example",
        OPENROUTER_SITE_NAME="Internal Apps",
    )
    post(app, user())
    headers = upstream.last("/chat/completions").headers
    assert headers["Authorization"] == f"Bearer {MOCK_KEY}"
    assert headers["HTTP-Referer"] == "https://apps.example"
    assert headers["X-OpenRouter-Title"] == headers["X-Title"] == "Internal Apps"
    assert headers["Content-Type"] == "application/json"


def test_max_tokens_cap_and_fallback_models(upstream):
    app = gateway_app(
        upstream,
        MAX_TOKENS_LIMIT=1000,
        DEFAULT_MAX_TOKENS=4096,
        OPENROUTER_FALLBACK_MODELS=["openai/gpt-5.2", "google/gemini-2.5-pro"],
    )
    post(app, user())
    assert sent(upstream)["max_tokens"] == 1000
    assert sent(upstream)["models"] == ["openai/gpt-5.2", "google/gemini-2.5-pro"]
    post(app, user(model="openai/gpt-4o", max_completion_tokens=5000))
    assert sent(upstream)["max_completion_tokens"] == 1000
    assert "max_tokens" not in sent(upstream) and "models" not in sent(upstream)
    post(app, user(max_tokens=10))
    assert sent(upstream)["max_tokens"] == 10


def test_objects_the_gateway_does_not_interpret_pass_through(gateway, upstream):
    body = {
        "model": "openai/gpt-4o",
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "hello",
                "refusal": None,
                "reasoning": "thought",
                "reasoning_details": [{"type": "reasoning.text", "text": "t", "format": "unknown", "index": 0}],
                "annotations": [],
            },
            {"role": "user", "content": [{"type": "text", "text": "again"}], "name": "ann"},
        ],
        "provider": {"order": ["openai"], "allow_fallbacks": False},
        "reasoning": {"effort": "low"},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "usage": {"include": True},
        "transforms": ["middle-out"],
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "top_k": 3,
        "stop": ["END"],
        "seed": 7,
        "logit_bias": {"42": -100},
    }
    assert post(gateway, body).status_code == 200
    forwarded = sent(upstream)
    assert forwarded["messages"] == body["messages"]
    for key in ("provider", "reasoning", "response_format", "usage", "transforms", "temperature", "top_k", "stop"):
        assert forwarded[key] == body[key]


def test_assistant_tool_calls_with_null_content_are_accepted(gateway, upstream):
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    tools = [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]
    response = post(gateway, {"model": "openai/gpt-4o", "messages": messages, "tools": tools})
    assert response.status_code == 200
    assert response.get_json()["choices"][0]["message"]["content"] == "Tool results: sunny"


@pytest.mark.parametrize(
    "model",
    [
        "meta-llama/llama-3.3-70b-instruct:free",
        "~anthropic/claude-sonnet-latest",
        "openrouter/auto",
        "openai/gpt-5.2",
    ],
)
def test_model_id_forms(gateway, upstream, model):
    assert post(gateway, user(model=model)).status_code == 200
    assert sent(upstream)["model"] == model


@pytest.mark.parametrize(
    "body, path",
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        (user(model="claude"), "model"),
        (user(model="a/b c"), "model"),
        (user(models=["a/b", "c/d", "e/f", "g/h"]), "models"),
        (user(temperature=2.5), "temperature"),
        (user(temperature="1"), "temperature"),
        (user(top_p=1.1), "top_p"),
        (user(top_k=-1), "top_k"),
        (user(frequency_penalty=-3), "frequency_penalty"),
        (user(presence_penalty=2.1), "presence_penalty"),
        (user(repetition_penalty=3), "repetition_penalty"),
        (user(max_tokens=0), "max_tokens"),
        (user(max_completion_tokens=1.5), "max_completion_tokens"),
        (user(stop=["a", "b", "c", "d", "e"]), "stop"),
        (user(top_logprobs=21), "top_logprobs"),
        (user(stream="yes"), "stream"),
        (user(tool_choice="sometimes"), "tool_choice"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "messages.0.content.0"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.tool_call_id"),
        ({"messages": [{"role": "assistant", "content": None}]}, "messages.0.content"),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}]},
            "messages.0.tool_calls.0.function",
        ),
    ],
)
def test_invalid_requests_never_reach_openrouter(gateway, upstream, body, path):
    error = assert_error(post(gateway, body), 400, "invalid_request_error")
    assert path in error["details"], error
    assert error["message"].startswith(path + ": ") or path in error["message"]
    assert upstream.hits("/chat/completions") == 0


def test_unknown_top_level_fields_reach_openrouter_unchanged(gateway, upstream):
    extra = {
        "n": 1,
        "store": False,
        "safety_identifier": "user-123",
        "prompt_cache_retention": "24h",
        "a_field_from_next_month": {"nested": [1, "two", None]},
    }
    response = post(gateway, user("hello", model="openai/gpt-4o", **extra))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = sent(upstream)
    assert {key: body[key] for key in extra} == extra
    assert body["messages"] == [{"role": "user", "content": "hello"}]


def test_known_fields_keep_their_checks_beside_unknown_ones(gateway, upstream):
    error = assert_error(post(gateway, user(n=2, temperature=9)), 400, "invalid_request_error")
    assert error["details"] == {"temperature": ["Must be greater than or equal to 0 and less than or equal to 2."]}
    assert upstream.hits("/chat/completions") == 0


@pytest.mark.parametrize("path", [CHAT, "/api/v2/openrouter/chat/stream"])
def test_refused_request_uses_no_rate_limit_slot(upstream, path):
    app = gateway_app(upstream)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app)}"}
    first = client.post(path, json=user("hi"), headers=headers)
    first.get_data()
    remaining = int(first.headers["X-RateLimit-Remaining"])
    for bad in (user(temperature=5), {"messages": []}, user(stream="yes")):
        assert_error(client.post(path, json=bad, headers=headers), 400, "invalid_request_error")
    refused = client.post(path, data="not json", headers={**headers, "Content-Type": "application/json"})
    assert_error(refused, 400, "invalid_request_error")
    second = client.post(path, json=user("hi"), headers=headers)
    second.get_data()
    assert second.status_code == 200
    assert int(second.headers["X-RateLimit-Remaining"]) == remaining - 1
    assert upstream.hits("/chat/completions") == 2


def test_allowed_models_enforced(upstream):
    app = gateway_app(upstream, ALLOWED_MODELS=["openai/gpt-4o"])
    assert post(app, user(model="openai/gpt-4o")).status_code == 200
    error = assert_error(post(app, user(model="openai/o1-pro")), 403, "permission_error", "openai/o1-pro")
    assert error["details"] == {"model": ["Must be one of: openai/gpt-4o."]}
    assert_error(post(app, user(model="openai/gpt-4o", models=["openai/gpt-5.2"])), 403, "permission_error")
    assert upstream.hits("/chat/completions") == 1


NO_RETRY = "false"


@pytest.mark.parametrize(
    "fault, status, error_type, should_retry, text",
    [
        ("400", 400, "invalid_request_error", None, "mock fault 400"),
        ("400-provider", 400, "invalid_request_error", None, "Provider returned error: "),
        ("401", 502, "upstream_error", NO_RETRY, "rejected the gateway's API key"),
        ("402", 502, "upstream_error", NO_RETRY, "credits"),
        ("403-key", 502, "upstream_error", NO_RETRY, "Key limit exceeded"),
        ("404", 400, "invalid_request_error", None, "No endpoints found"),
        ("408", 504, "upstream_timeout", NO_RETRY, "timed out"),
        ("413", 413, "request_too_large", None, "cannot exceed"),
        ("422", 400, "invalid_request_error", None, None),
        ("500", 502, "upstream_error", NO_RETRY, "(500)"),
        ("502", 502, "upstream_error", NO_RETRY, "Provider returned error: "),
        ("503", 502, "upstream_error", NO_RETRY, "(503)"),
        ("524", 504, "upstream_timeout", NO_RETRY, "(524)"),
        ("529", 502, "upstream_error", NO_RETRY, "(529)"),
        ("invalid-json", 502, "upstream_error", NO_RETRY, "not JSON"),
        ("error-200", 502, "upstream_error", NO_RETRY, "returned an error"),
        ("drop", 502, "upstream_error", NO_RETRY, "broke"),
    ],
)
def test_error_mapping(gateway, upstream, fault, status, error_type, should_retry, text):
    response = post(gateway, user(f"x [[fault:{fault}]]"))
    error = assert_error(response, status, error_type, text)
    assert response.headers.get("x-should-retry") == should_retry
    assert MOCK_KEY not in response.get_data(as_text=True)
    assert upstream.hits("/chat/completions") == 1  # never re-sent
    if fault in ("400-provider", "502"):
        assert error["details"]["upstream.provider_name"]
        assert error["details"]["upstream.raw"]


def test_moderation_403_keeps_reasons(gateway):
    error = assert_error(post(gateway, user("bad [[fault:403]]")), 403, "permission_error", "flagged")
    assert error["details"]["reasons"] == ["violence"]


def test_openrouter_429_passes_retry_after(gateway):
    response = post(gateway, user("x [[fault:429]]"))
    assert_error(response, 429, "rate_limit_error", "free-models-per-min")
    assert response.headers["Retry-After"] == "7"
    bare = post(gateway, user("x [[fault:429-bare]]"))
    assert_error(bare, 429, "rate_limit_error")
    assert int(bare.headers["Retry-After"]) >= 1


def test_finish_error_200_is_passed_on_as_it_is(gateway):
    response = post(gateway, user("x [[fault:finish-error]]"))
    assert response.status_code == 200
    assert response.get_json()["choices"][0]["finish_reason"] == "error"


def test_unreachable_upstream_is_502_and_retryable():
    app = make_app(OPENROUTER_BASE_URL=f"http://127.0.0.1:{free_port()}/api/v1", OPENROUTER_API_KEY=MOCK_KEY)
    response = post(app, user())
    assert_error(response, 502, "upstream_error", "unreachable")
    assert "x-should-retry" not in response.headers


def test_idle_timeout_is_504(upstream):
    app = gateway_app(upstream, OPENROUTER_TIMEOUT=300)
    response = post(app, user("x [[fault:silence]]"))
    assert_error(response, 504, "upstream_timeout", "OPENROUTER_TIMEOUT")
    assert response.headers["x-should-retry"] == "false"
    assert upstream.wait_for(lambda: upstream.last("/chat/completions").client_disconnected)


def test_no_key_is_503_without_calling_upstream(upstream):
    app = make_app(OPENROUTER_BASE_URL=upstream.url, OPENROUTER_API_KEY=None)
    assert_error(post(app, user()), 503, "service_unavailable", "OPENROUTER_API_KEY")
    assert upstream.hits() == 0


def test_long_conversation_errors_name_each_message(gateway, upstream):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}] * 30
    messages[41] = {"role": "assistant", "content": None}
    messages[50] = "not an object"
    error = assert_error(post(gateway, {"messages": messages}), 400, "invalid_request_error")
    assert error["details"] == {
        "messages.41.content": ["An assistant message needs content or tool_calls."],
        "messages.50": ["Invalid input type."],
    }
    assert upstream.hits("/chat/completions") == 0
