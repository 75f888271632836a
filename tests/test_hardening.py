"""Regression tests for what a red-team pass broke (issue 16): each fails on the code before its fix."""

import io
import logging

import orjson
import pytest

from core.errors import InvalidRequestError
from tests.conftest import FAULT_STATUS, MOCK_KEY, PNG, WAV, assert_error, b64, make_app, token_for

BASE = "/api/v2/openrouter"
ECHO = " [[echo_auth]]"


def bearer(app, sub="alice"):
    return {"Authorization": f"Bearer {token_for(app, sub)}"}


def post(app, path, **kwargs):
    with app.test_client().post(BASE + path, headers=bearer(app), **kwargs) as response:
        response.get_data()
        return response


def user(text):
    return [{"role": "user", "content": text}]


def assert_clean(text):
    """No trace of the key: neither whole, nor as a bearer header, nor shaped like an OpenRouter key."""
    assert MOCK_KEY not in text
    assert MOCK_KEY[:20] not in text
    assert "sk-or-" not in text
    assert "Bearer sk" not in text


# --------------------------------------------------------------------------- 1. the key never reaches a caller


@pytest.mark.parametrize(("fault", "status"), FAULT_STATUS.items())
def test_echoed_key_is_redacted_on_every_error_status(gateway, captured_logs, fault, status):
    response = post(gateway, "/chat/completions", json={"messages": user(f"x [[fault:{fault}]]{ECHO}")})
    error = assert_error(response, status, response.get_json()["error"]["type"])
    text = response.get_data(as_text=True) + str(response.headers)
    assert_clean(text + captured_logs.getvalue())
    if fault not in ("401",):  # 401's message is ours alone ("rejected the gateway's API key")
        assert "[REDACTED]" in orjson.dumps(error).decode()


@pytest.mark.parametrize("fault", ["stream-error", "error-200", "invalid-json"])
def test_echoed_key_is_redacted_mid_stream(gateway, captured_logs, fault):
    response = post(gateway, "/chat/stream", json={"messages": user(f"x [[fault:{fault}]]{ECHO}")})
    assert response.status_code == 200
    events = [line[6:] for line in response.get_data(as_text=True).splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = orjson.loads(events[-2])["error"]
    assert error["code"] == 502 and error["type"] == "upstream_error"
    assert_clean(response.get_data(as_text=True) + captured_logs.getvalue())
    if fault != "invalid-json":  # a stream event that is not JSON is answered with our own message
        assert "[REDACTED]" in error["message"]


@pytest.mark.parametrize("fault", ["error-200", "invalid-json", "finish-error"])
def test_echoed_key_is_redacted_in_200_answers(gateway, fault):
    response = post(gateway, "/chat/completions", json={"messages": user(f"x [[fault:{fault}]]{ECHO}")})
    assert response.status_code == (200 if fault == "finish-error" else 502)
    assert_clean(response.get_data(as_text=True))


def test_echoed_key_is_redacted_on_vision_and_tools(gateway, captured_logs):
    vision = {"prompt": f"what? [[fault:502]]{ECHO}", "images": [{"url": "data:image/png;base64," + b64(PNG)}]}
    error = assert_error(post(gateway, "/vision", json=vision), 502, "upstream_error", "[REDACTED]")
    assert_clean(orjson.dumps(error).decode())
    for fault, status in (("403", 403), ("422", 400), ("finish-error", 502)):
        body = {"model": "openai/gpt-4o", "messages": user(f"x [[fault:{fault}]]{ECHO}"), "builtin_tools": True}
        response = post(gateway, "/tools/invoke", json=body)
        error = assert_error(response, status, response.get_json()["error"]["type"], "[REDACTED]")
        assert_clean(response.get_data(as_text=True))
    audio = {"audio": {"data": b64(WAV), "format": "wav"}, "prompt": f"x [[fault:500]]{ECHO}"}
    assert_error(post(gateway, "/audio", json=audio), 502, "upstream_error", "[REDACTED]")
    assert_clean(captured_logs.getvalue())


def test_redaction_covers_the_configured_key_and_key_shapes():
    from core import redaction

    redaction.register("proxy-secret-4f9a1c")
    text = "k=proxy-secret-4f9a1c auth=Bearer abc.def-ghi key sk-or-v1-0123 Bearer%20xyz"
    assert redaction.redact(text) == "k=[REDACTED] auth=Bearer [REDACTED] key [REDACTED] Bearer [REDACTED]"
    assert redaction.redact_value({"a": ["sk-or-v1-x"], "sk-or-k": 1}) == {"a": ["[REDACTED]"], "[REDACTED]": 1}


# --------------------------------------------------------------------------- Retry-After from OpenRouter


@pytest.mark.parametrize(("given", "expected"), [("1.5", "2"), ("0.2", "1"), ("7", "7"), ("inf", "7"), ("1e999", "7")])
def test_fractional_or_absurd_retry_after_is_a_whole_number(gateway, given, expected):
    # An unusable value (inf) falls back to the X-RateLimit-Reset the 429 also carries (7 s ahead).
    text = f"x [[fault:429]] [[retry_after:{given}]]"
    response = post(gateway, "/chat/completions", json={"messages": user(text)})
    assert_error(response, 429, "rate_limit_error", "OpenRouter rate limit")
    assert response.headers["Retry-After"] == expected


# --------------------------------------------------------------------------- 2. big integers from calculate


@pytest.mark.parametrize(
    ("expression", "result"),
    [("2**64", str(2**64)), ("-2**63-1", str(-(2**63) - 1)), ("2**9999", str(2**9999)), ("2**63-1", 2**63 - 1)],
)
def test_calculate_results_outside_64_bits_are_exact_strings(gateway, expression, result):
    arguments = orjson.dumps({"expression": expression}).decode()
    body = {"model": "openai/gpt-4o", "messages": user(f"[[call:calculate:{arguments}]]"), "builtin_tools": True}
    response = post(gateway, "/tools/invoke", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    [done] = answer["executed_tool_calls"]
    assert done["output"] == {"expression": expression, "result": result}
    assert (answer["status"], answer["stop_reason"], answer["iterations"]) == ("completed", "stop", 2)


def test_calculate_bounds_its_digits(gateway):
    body = {"model": "openai/gpt-4o", "messages": user('[[call:calculate:{"expression":"2**10001"}]]')}
    response = post(gateway, "/tools/invoke", json={**body, "builtin_tools": ["calculate"]})
    assert response.status_code == 200
    [done] = response.get_json()["executed_tool_calls"]
    assert done["error"] == "power result is too large (more than 10000 bits)"


# --------------------------------------------------------------------------- 7. nesting bound and form integers


def nested(depth, leaf=None):
    value = leaf if leaf is not None else {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


NESTED_BODIES = [
    ("/chat/completions", lambda deep: {"messages": user("hi"), "provider": deep}, "provider.a.a.a.…"),
    ("/chat/completions", lambda deep: {"messages": [{"role": "user", "content": "", "x": deep}]}, "messages.0.x.a.…"),
    (
        "/chat/completions",
        lambda deep: {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "x": deep}]}]},
        "messages.0.content.0.…",
    ),
    (
        "/tools/invoke",
        lambda deep: {
            "messages": user("hi"),
            "tools": [{"type": "function", "function": {"name": "f", "parameters": deep}}],
        },
        "tools.0.function.parameters.…",
    ),
    ("/tools/submit", lambda deep: {"session_id": "s", "tool_outputs": [{"tool_call_id": "c", "output": deep}]}, None),
    ("/vision", lambda deep: {"prompt": "p", "images": [{"url": "https://x/y.png"}], "x": deep}, "x.a.a.a.…"),
]


@pytest.mark.parametrize(("path", "make", "field"), NESTED_BODIES)
@pytest.mark.parametrize("depth", [100, 300])
def test_deeply_nested_bodies_are_400_naming_the_field(gateway, path, make, field, depth):
    response = post(gateway, path, json=make(nested(depth)))
    error = assert_error(response, 400, "invalid_request_error", "Nested more than 64 levels deep")
    if field:
        assert error["message"].startswith(f"{field}: ")
        assert list(error["details"]) == [field]


def test_nesting_bound_is_exact():
    from schemas.common import MAX_JSON_DEPTH, ORJSON_MAX_DEPTH, check_nesting

    # The check lets orjson count; it relies on orjson's own limit, which an upgrade could move.
    orjson.dumps(nested(ORJSON_MAX_DEPTH))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(nested(ORJSON_MAX_DEPTH + 1))
    check_nesting(nested(MAX_JSON_DEPTH))
    check_nesting({"a": [1, "x", nested(MAX_JSON_DEPTH - 2)]})
    with pytest.raises(InvalidRequestError, match=r"^a\.2\.a\.a\.…: Nested more than 64"):
        check_nesting({"a": [1, "x", nested(MAX_JSON_DEPTH - 1)]})


def test_nesting_within_the_bound_passes(gateway):
    body = {"messages": user("hi"), "provider": nested(60)}
    assert post(gateway, "/chat/completions", json=body).status_code == 200


@pytest.mark.parametrize("value", [str(2**64), str(2**31), "1_000", " 7", "٣", "+5", "0x10", "1" * 19])
@pytest.mark.parametrize("path", ["/vision", "/audio"])
def test_form_max_tokens_is_a_strict_bounded_integer(gateway, path, value):
    media = {"image": (io.BytesIO(PNG), "a.png")} if path == "/vision" else {"audio": (io.BytesIO(WAV), "a.wav")}
    data = {"prompt": "describe", "max_tokens": value, **media}
    response = post(gateway, path, data=data, content_type="multipart/form-data")
    error = assert_error(response, 400, "invalid_request_error")
    assert list(error["details"]) == ["max_tokens"]


@pytest.mark.parametrize("value", ["1_0", "inf", "nan", "1e999", "١", " 1", "0x1", "2.5", "-0.1"])
def test_form_temperature_is_a_strict_bounded_number(gateway, value):
    data = {"prompt": "describe", "temperature": value, "image": (io.BytesIO(PNG), "a.png")}
    error = assert_error(
        post(gateway, "/vision", data=data, content_type="multipart/form-data"), 400, "invalid_request_error"
    )
    assert list(error["details"]) == ["temperature"]


def test_form_numbers_in_range_are_sent(gateway, upstream):
    data = {"prompt": "d", "max_tokens": "2147483647", "temperature": "0.7", "image": (io.BytesIO(PNG), "a.png")}
    assert post(gateway, "/vision", data=data, content_type="multipart/form-data").status_code == 200
    sent = upstream.last("/chat/completions").body
    assert (sent["max_tokens"], sent["temperature"]) == (2147483647, 0.7)


# --------------------------------------------------------------------------- 11. no redirects


@pytest.mark.parametrize(
    "path",
    [
        "//chat/completions",
        "/chat//completions",
        "/chat/completions/",
        "/tools//invoke",
        "/models//openai/gpt-4o/",
        "//health",
        "/health/",
    ],
)
def test_no_slash_merging_and_no_redirect(gateway, path):
    headers = {**bearer(gateway), "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    for method in ("GET", "POST"):
        response = gateway.test_client().open(BASE + path, method=method, headers=headers, json={})
        assert_error(response, 404, "not_found_error", "No such route")
        assert "Location" not in response.headers


# --------------------------------------------------------------------------- 12. forged log lines


def text_app():
    app = make_app(LOG_FORMAT="text", LOG_LEVEL="INFO")
    logging.getLogger().setLevel(logging.DEBUG)
    return app


def test_text_log_lines_cannot_be_forged(captured_logs):
    app = text_app()
    forged = "/x%0A2026-01-01%2000:00:00,000%20INFO%20gateway.access%20[abc]%20GET%20/admin%20200%0D%0Aend%E2%80%A8\\n"
    with app.test_client().get(BASE + forged) as response:
        assert response.status_code == 404
    lines = captured_logs.getvalue().splitlines()
    [line] = [line for line in lines if "gateway.access" in line and "/x" in line]
    assert "/x\\n2026-01-01 00:00:00,000 INFO gateway.access [abc] GET /admin 200\\r\\nend\\u2028\\\\n 404" in line
    assert all(not line.startswith("2026-01-01") for line in lines)


def test_text_log_tracebacks_stay_under_their_record(captured_logs):
    app = text_app()
    with app.test_client().get(BASE + "/_test/crash") as response:
        assert response.status_code == 500
    lines = captured_logs.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "unhandled error" in line)
    assert lines[start + 1].startswith("    Traceback")
