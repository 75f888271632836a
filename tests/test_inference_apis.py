"""POST /responses, /messages (/v1/messages) and /embeddings through the gateway to the stand-in."""

import orjson
import pytest

from tests.conftest import (
    assert_error,
    gateway_app,
    idle_sockets,
    make_app,
    samples,
    token_for,
    upstream_pool,
    value,
)
from webapp.auth import end_user_id

BASE = "/api/v2/openrouter"
RESPONSES, MESSAGES, EMBEDDINGS = f"{BASE}/responses", f"{BASE}/messages", f"{BASE}/embeddings"
HI = [{"role": "user", "content": "hi"}]


def post(app, path, body, headers=None, sub="alice"):
    headers = {"Authorization": f"Bearer {token_for(app, sub)}"} if headers is None else headers
    with app.test_client().post(path, json=body, headers=headers) as response:
        response.get_data()
        return response


def relayed(upstream, path):
    """The bytes the stand-in streamed for the last call to `path`."""
    return b"".join(event for _, event in upstream.last(path).events)


def assert_anthropic_error(response, status, kind):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == kind and body["error"]["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


def totals(app, sub="alice"):
    headers = {"Authorization": f"Bearer {token_for(app, sub)}"}
    return app.test_client().get(f"{BASE}/usage", headers=headers).get_json()["totals"]


# ---------------------------------------------------------------------------------------------------- Responses
def test_responses_plain_adds_the_gateway_defaults(gateway, upstream):
    response = post(gateway, RESPONSES, {"input": "hello", "store": False, "future_field": [1]})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["output"][0]["content"][0] == {"type": "output_text", "text": "Mock reply to: hello", "annotations": []}
    assert response.headers["X-Generation-Id"] == body["id"]
    assert response.headers["X-RateLimit-Limit"] == "30"
    sent = upstream.last("/responses").body
    assert sent == {
        "input": "hello",
        "store": False,
        "future_field": [1],
        "model": "anthropic/claude-sonnet-4.5",
        "max_output_tokens": 4096,
        "user": end_user_id("alice"),
    }
    usage = body["usage"]
    assert totals(gateway) == {
        "requests": 1,
        "prompt_tokens": usage["input_tokens"],
        "completion_tokens": usage["output_tokens"],
        "cost": usage["cost"],
    }


def test_responses_max_output_tokens_capped(upstream):
    app = gateway_app(upstream, MAX_TOKENS_LIMIT=100)
    assert post(app, RESPONSES, {"input": "hi", "max_output_tokens": 5000}).status_code == 200
    assert upstream.last("/responses").body["max_output_tokens"] == 100


def test_responses_stream_relays_named_events_exactly(gateway, upstream):
    response = post(gateway, RESPONSES, {"input": "hello", "model": "openai/gpt-4o", "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-RateLimit-Limit"] == "20"  # the streaming bucket
    data = response.get_data()
    assert data == relayed(upstream, "/responses")
    assert b"event: response.created\ndata: " in data
    assert data.rstrip().split(b"\n\n")[-1].startswith(b"event: response.completed\ndata: ")
    assert totals(gateway)["requests"] == 1
    assert totals(gateway)["completion_tokens"] > 0


def test_responses_stream_error_after_first_byte_is_an_error_event(gateway, upstream):
    response = post(gateway, RESPONSES, {"input": "hi [[fault:stream-error]]", "stream": True})
    assert response.status_code == 200
    last = response.get_data().rstrip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error\ndata: ")

    event = orjson.loads(last.split(b"data: ", 1)[1])
    assert event["type"] == "error" and event["code"] == "upstream_error"
    assert event["error"]["code"] == 502 and event["error"]["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "body, path",
    [
        ({"input": "hi", "store": True}, "store"),
        ({"input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "hi", "temperature": 3}, "temperature"),
        ({"input": "hi", "model": "nope"}, "model"),
    ],
)
def test_responses_refused_before_any_call_and_any_quota(upstream, body, path):
    app = gateway_app(upstream)
    first = post(app, RESPONSES, {"input": "hi"})
    error = assert_error(post(app, RESPONSES, body), 400, "invalid_request_error")
    assert path in error["details"]
    second = post(app, RESPONSES, {"input": "hi"})
    assert int(second.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 1
    assert upstream.hits("/responses") == 2


def test_responses_upstream_errors_use_the_error_table(upstream):
    app = gateway_app(upstream, ALLOWED_MODELS=["openai/gpt-4o"])
    assert_error(post(app, RESPONSES, {"input": "hi", "model": "openai/o1-pro"}), 403, "permission_error")
    response = post(app, RESPONSES, {"input": "hi [[fault:429]]", "model": "openai/gpt-4o"})
    assert_error(response, 429, "rate_limit_error")
    assert int(response.headers["Retry-After"]) >= 1
    assert_error(post(app, RESPONSES, {"input": "hi [[fault:500]]", "model": "openai/gpt-4o"}), 502, "upstream_error")


# ----------------------------------------------------------------------------------------------------- Messages
@pytest.mark.parametrize("path", [MESSAGES, f"{BASE}/v1/messages"])
def test_messages_with_x_api_key_and_anthropic_headers(gateway, upstream, path):
    headers = {"x-api-key": token_for(gateway), "anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024"}
    response = post(gateway, path, {"messages": HI, "metadata": {"user_id": "mine"}}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["type"] == "message" and body["content"] == [{"type": "text", "text": "Mock reply to: hi"}]
    record = upstream.last("/messages")
    assert record.headers["anthropic-version"] == "2023-06-01"
    assert record.headers["anthropic-beta"] == "tools-2024"
    assert record.body["max_tokens"] == 4096
    assert record.body["metadata"] == {"user_id": end_user_id("alice")}
    assert "user" not in record.body
    assert totals(gateway)["prompt_tokens"] == body["usage"]["input_tokens"]


def test_messages_stream_relays_named_events_and_counts_usage(gateway, upstream):
    response = post(gateway, MESSAGES, {"messages": HI, "stream": True, "max_tokens": 50})
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    data = response.get_data()
    assert data == relayed(upstream, "/messages")
    assert b"event: message_start\ndata: " in data and data.endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    counted = totals(gateway)
    assert counted["requests"] == 1 and counted["prompt_tokens"] > 0 and counted["completion_tokens"] > 1


def test_messages_stream_error_is_an_anthropic_error_event(gateway, upstream):
    response = post(
        gateway, MESSAGES, {"messages": [{"role": "user", "content": "x [[fault:stream-drop]]"}], "stream": True}
    )
    last = response.get_data().rstrip().split(b"\n\n")[-1]

    assert last.startswith(b"event: error\ndata: ")
    event = orjson.loads(last.split(b"data: ", 1)[1])
    assert event["type"] == "error" and event["error"]["type"] == "api_error"


@pytest.mark.parametrize(
    "content, status, kind",
    [
        ("hi [[fault:400]]", 400, "invalid_request_error"),
        ("hi [[fault:429]]", 429, "rate_limit_error"),
        ("hi [[fault:502]]", 502, "api_error"),
        ("hi [[fault:524]]", 504, "api_error"),
    ],
)
def test_messages_errors_in_anthropic_envelope(gateway, upstream, content, status, kind):
    response = post(gateway, MESSAGES, {"messages": [{"role": "user", "content": content}]})
    assert_anthropic_error(response, status, kind)


def test_messages_local_errors_in_anthropic_envelope(app):
    assert_anthropic_error(post(app, MESSAGES, {"messages": HI}, headers={}), 401, "authentication_error")
    assert_anthropic_error(
        post(app, MESSAGES, {"messages": HI}, headers={"x-api-key": "nope"}), 401, "authentication_error"
    )
    error = assert_anthropic_error(post(app, MESSAGES, {"messages": []}), 400, "invalid_request_error")
    assert error["message"].startswith("messages: ")
    assert_anthropic_error(post(app, MESSAGES, {"messages": HI}), 502, "api_error")  # OpenRouter unreachable
    keyless = make_app(OPENROUTER_API_KEY=None)
    assert_anthropic_error(post(keyless, MESSAGES, {"messages": HI}), 503, "overloaded_error")


def test_messages_quota_429_in_anthropic_envelope(upstream):
    app = gateway_app(upstream, RATELIMIT_CHAT="1/minute")
    assert post(app, MESSAGES, {"messages": HI}).status_code == 200
    response = post(app, MESSAGES, {"messages": HI})
    assert_anthropic_error(response, 429, "rate_limit_error")
    assert int(response.headers["Retry-After"]) >= 1
    # Chat answers in its own envelope on the same bucket.
    assert_error(post(app, f"{BASE}/chat/completions", {"messages": HI}), 429, "rate_limit_error")


# --------------------------------------------------------------------------------------------------- Embeddings
@pytest.mark.parametrize("given", ["hello", ["a", "b", "c"], [1, 2, 3], [[1, 2], [3]]])
def test_embeddings_inputs(gateway, upstream, given):
    response = post(gateway, EMBEDDINGS, {"input": given, "dimensions": 8})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    count = 1 if isinstance(given, str) or isinstance(given[0], int) else len(given)
    assert [item["index"] for item in body["data"]] == list(range(count))
    assert all(len(item["embedding"]) == 8 for item in body["data"])
    assert response.headers["X-RateLimit-Limit"] == "60"
    sent = upstream.last("/embeddings").body
    assert sent == {
        "input": given,
        "dimensions": 8,
        "model": "openai/text-embedding-3-small",
        "user": end_user_id("alice"),
    }
    assert totals(gateway) == {
        "requests": 1,
        "prompt_tokens": body["usage"]["prompt_tokens"],
        "completion_tokens": 0,
        "cost": body["usage"]["cost"],
    }


@pytest.mark.parametrize(
    "body, path",
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": ["ok", ""]}, "input.1"),
        ({"input": [[]]}, "input.0"),
        ({"input": ["x"] * 2049}, "input"),
        ({"input": True}, "input"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_embeddings_bad_input_is_400_before_any_call(gateway, upstream, body, path):
    error = assert_error(post(gateway, EMBEDDINGS, body), 400, "invalid_request_error")
    assert path in error["details"], error
    assert upstream.hits("/embeddings") == 0


def test_embeddings_own_bucket(upstream):
    app = gateway_app(upstream, RATELIMIT_EMBEDDINGS="2/minute", RATELIMIT_CHAT="1/minute")
    assert post(app, f"{BASE}/chat/completions", {"messages": HI}).status_code == 200
    for remaining in ("1", "0"):
        response = post(app, EMBEDDINGS, {"input": "x"})
        assert (response.status_code, response.headers["X-RateLimit-Remaining"]) == (200, remaining)
    assert_error(post(app, EMBEDDINGS, {"input": "x"}), 429, "rate_limit_error", "2 per 1 minute")


def test_openapi_documents_the_three_routes(client):
    spec = client.get(f"{BASE}/openapi.json").get_json()
    for path, schema in (
        ("/responses", "ResponsesRequest"),
        ("/messages", "MessagesRequest"),
        ("/v1/messages", "MessagesRequest"),
        ("/embeddings", "EmbeddingsRequest"),
    ):
        operation = spec["paths"][f"{BASE}{path}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{schema}"}
        assert {"200", "400", "401", "429", "502"} <= set(operation["responses"])
    messages = spec["paths"][f"{BASE}/messages"]["post"]
    assert messages["responses"]["400"] == {"$ref": "#/components/responses/AnthropicError400"}
    assert {"apiKeyAuth": []} in messages["security"]
    assert spec["components"]["schemas"]["ResponsesRequest"]["required"] == ["input"]
    assert set(spec["paths"][f"{BASE}/responses"]["post"]["responses"]["200"]["content"]) == {
        "application/json",
        "text/event-stream",
    }


def test_daily_budget_covers_the_new_routes(upstream):
    app = gateway_app(upstream, USER_DAILY_BUDGET_USD=0.00000001)
    assert post(app, EMBEDDINGS, {"input": "spend"}).status_code == 200
    assert_error(post(app, RESPONSES, {"input": "hi"}), 429, "rate_limit_error", "Daily budget")
    assert_anthropic_error(post(app, MESSAGES, {"messages": HI}), 429, "rate_limit_error")
    assert_error(post(app, EMBEDDINGS, {"input": "more"}), 429, "rate_limit_error", "Daily budget")
    assert upstream.hits("/embeddings") == 1 and upstream.hits("/responses") == upstream.hits("/messages") == 0


def test_embeddings_body_over_max_content_length_is_413(upstream):
    app = gateway_app(upstream, MAX_CONTENT_LENGTH=1000)
    assert_error(post(app, EMBEDDINGS, {"input": ["x" * 100] * 20}), 413, "request_too_large")
    assert upstream.hits("/embeddings") == 0


def test_concurrency_cap_covers_streams_of_the_new_routes(upstream):
    app = gateway_app(upstream, MAX_CONCURRENT_PER_USER=1)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app)}"}
    held = client.post(RESPONSES, json={"input": "hi", "stream": True}, headers=headers, buffered=False)
    assert held.status_code == 200
    assert_anthropic_error(post(app, MESSAGES, {"messages": HI}), 429, "rate_limit_error")
    held.get_data()
    held.close()
    assert post(app, MESSAGES, {"messages": HI}).status_code == 200


def test_each_apis_usage_in_chat_terms():
    from services.apis import CHAT, EMBEDDINGS_API, MESSAGES_API, RESPONSES_API

    anthropic_usage = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 100,
        "output_tokens": 7,
        "cost": 0.01,
    }
    assert MESSAGES_API.usage_of({"usage": anthropic_usage}) == {
        "prompt_tokens": 115,
        "completion_tokens": 7,
        "cost": 0.01,
    }
    responses_usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7, "cost": 0.5}
    assert RESPONSES_API.usage_of({"usage": responses_usage}) == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "cost": 0.5,
    }
    assert EMBEDDINGS_API.usage_of({"usage": {"prompt_tokens": 9, "total_tokens": 9}}) == {
        "prompt_tokens": 9,
        "completion_tokens": 0,
        "cost": 0,
    }
    assert CHAT.usage_of({"usage": {"prompt_tokens": 1, "completion_tokens": 2}}) == {
        "prompt_tokens": 1,
        "completion_tokens": 2,
    }
    assert MESSAGES_API.usage_of({"content": []}) is None
    # A Messages stream reports the input side in message_start and the output (cumulative) in message_delta.
    start = {"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 10, "output_tokens": 1}}}
    assert MESSAGES_API.stream_usage(start) == ({"input_tokens": 10, "output_tokens": 1}, "m")
    assert MESSAGES_API.stream_usage({"type": "message_delta", "usage": {"output_tokens": 30}}) == (
        {"output_tokens": 30},
        None,
    )


def test_metrics_name_the_new_upstream_endpoints(gateway, upstream):

    client = gateway.test_client()
    before = samples(client.get(f"{BASE}/metrics").get_data(as_text=True))
    post(gateway, RESPONSES, {"input": "hi", "model": "openai/gpt-4o"})
    post(gateway, MESSAGES, {"messages": HI, "stream": True})
    post(gateway, EMBEDDINGS, {"input": "x"})
    post(gateway, RESPONSES, {"input": "hi [[fault:502]]"})
    after = samples(client.get(f"{BASE}/metrics").get_data(as_text=True))
    name = "gateway_upstream_duration_seconds_count"
    for endpoint in ("responses", "messages_stream", "embeddings"):
        assert value(after, name, endpoint=endpoint) - value(before, name, endpoint=endpoint) >= 1, endpoint
    errors = "gateway_upstream_errors_total"
    assert (
        value(after, errors, endpoint="responses", status="502")
        - value(before, errors, endpoint="responses", status="502")
        == 1
    )
    tokens = "gateway_tokens_total"
    assert value(after, tokens, model="openai/gpt-4o", kind="prompt") > value(
        before, tokens, model="openai/gpt-4o", kind="prompt"
    )


@pytest.mark.parametrize("path", [RESPONSES, MESSAGES])
def test_streams_whole_at_their_last_event_keep_the_upstream_connection(gateway, upstream, path):
    pool = upstream_pool(gateway, upstream.url)
    body = {"input": "again", "stream": True} if path == RESPONSES else {"messages": HI, "stream": True}
    sockets = set()
    for _ in range(3):
        assert post(gateway, path, body).status_code == 200
        (sock,) = idle_sockets(pool)
        assert sock is not None
        sockets.add(sock)
    assert len(sockets) == 1
    broken = (
        {"input": "x [[fault:stream-drop]]", "stream": True}
        if path == RESPONSES
        else {
            "messages": [{"role": "user", "content": "x [[fault:stream-drop]]"}],
            "stream": True,
        }
    )
    data = post(gateway, path, broken).get_data()
    assert data.rstrip().split(b"\n\n")[-1].startswith(b"event: error\ndata: ")
    assert idle_sockets(pool) == [None]
