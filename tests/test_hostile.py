"""The red-team probe list, kept: the same attacks against a running gateway (gunicorn, the stand-in) over real
sockets, so what once broke stays fixed. Every answer is our JSON envelope with the exact status, never a 500,
HTML, a redirect, a hang or a secret; the log (LOG_FORMAT=text) has no secret and no forged line.

Limits refused at start-up, numeric-string claims and gunicorn's own refusals are probed here too; the false 429
of back-to-back calls with a cap of one is in test_hosts.py and the frozen Redis under fail-open in
test_quota_state.py, since each needs a gateway of its own (two hosts on Redis, a paused redis-server).
"""

import base64
import functools
import json
import time

import jwt as pyjwt
import orjson
import pytest
import requests

from tests.conftest import FAULT_STATUS, MOCK_KEY, PNG, WAV, live_auth, live_env, live_token
from tests.servers import run_gunicorn

SECRET = "hostile-test-secret-" + "7" * 32
API = "/api/v2/openrouter"
MODEL = "openai/gpt-4o"
CAP, SESSION_BYTES = 3, 65536
POST_ROUTES = ["/chat/completions", "/chat/stream", "/vision", "/audio", "/tools/invoke", "/tools/submit"]
FORGED = "2026-01-01 00:00:00,000 INFO gateway.access [forged] GET /admin 200"


@pytest.fixture(scope="module")
def live(mock_openrouter, tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile") / "gunicorn.log"
    buckets = ("CHAT", "STREAMING", "VISION", "AUDIO", "FUNCTION_CALLING")
    limits = {f"RATELIMIT_{name}": "10000/minute" for name in buckets}
    env = live_env(
        mock_openrouter.url,
        SECRET,
        LOG_FORMAT="text",
        MAX_TOOL_SESSIONS_PER_USER=str(CAP),
        MAX_TOOL_SESSION_BYTES=str(SESSION_BYTES),
        **limits,
    )
    with run_gunicorn(env, log_path=log) as (base, proc):
        yield base, log
    text = log.read_text()
    assert MOCK_KEY not in text and "sk-or-" not in text, "an OpenRouter key reached a log line"
    assert not any(line.startswith(FORGED) for line in text.splitlines()), "a forged log line"
    assert "Traceback" not in text, "a probe crashed the gateway"


token = functools.partial(live_token, secret=SECRET)
auth = functools.partial(live_auth, secret=SECRET)


def call(live, method, path, **kwargs):
    """One request over a real socket; the answer is checked to be clean whatever its status."""
    base, _ = live
    kwargs.setdefault("timeout", 15)
    response = requests.request(method, base + API + path, allow_redirects=False, **kwargs)
    text = response.text + str(response.headers)
    assert MOCK_KEY not in text and "sk-or-" not in text and "Bearer sk" not in text
    assert response.status_code < 500 or response.headers["Content-Type"].startswith(("application/json", "text/event"))
    assert "Location" not in response.headers
    return response


def error_of(response, status, error_type, message=None):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (status, error_type)
    assert error["request_id"] == response.headers["X-Request-ID"]
    if message is not None:
        assert message in error["message"], error["message"]
    return error


def user(text):
    return [{"role": "user", "content": text}]


# --------------------------------------------------------------------------- JWT attacks


def _unsigned(claims, header):
    encode = lambda part: base64.urlsafe_b64encode(orjson.dumps(part)).rstrip(b"=").decode()  # noqa: E731
    return f"{encode(header)}.{encode(claims)}."


def _jwt_attacks():
    now = int(time.time())
    good = {"sub": "alice", "exp": now + 600}
    return {
        "alg none": _unsigned(good, {"alg": "none", "typ": "JWT"}),
        "alg None": _unsigned(good, {"alg": "None", "typ": "JWT"}),
        "wrong key": pyjwt.encode(good, "another-secret-" + "x" * 32, algorithm="HS256"),
        "other HS algorithm": pyjwt.encode(good, SECRET * 2, algorithm="HS512"),
        "expired": pyjwt.encode({**good, "exp": now - 3600}, SECRET, algorithm="HS256"),
        "not yet valid": pyjwt.encode({**good, "nbf": now + 3600}, SECRET, algorithm="HS256"),
        "no exp": pyjwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"),
        "no sub": pyjwt.encode({"exp": now + 600}, SECRET, algorithm="HS256"),
        "sub not a string": pyjwt.encode({"sub": 42, "exp": now + 600}, SECRET, algorithm="HS256"),
        "empty sub": pyjwt.encode({"sub": "", "exp": now + 600}, SECRET, algorithm="HS256"),
        "signature stripped": token().rsplit(".", 1)[0] + ".",
        "garbage": "not.a.jwt",
        "huge": "a" * 6000,
    }


@pytest.mark.parametrize("attack", list(_jwt_attacks()))
@pytest.mark.parametrize("route", ["/chat/completions", "/tools/submit", "/models"])
def test_jwt_attacks_are_401(live, attack, route):
    headers = {"Authorization": f"Bearer {_jwt_attacks()[attack]}"}
    method = "GET" if route == "/models" else "POST"
    response = call(live, method, route, headers=headers, json={"messages": user("hi")})
    error_of(response, 401, "authentication_error")


# --------------------------------------------------------------------------- bad bodies on every POST route


def _nested(depth):
    value = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


BAD_BODIES = {
    "not JSON": (b"{not json", "application/json", "not valid JSON"),
    "JSON array": (b"[1, 2]", "application/json", "must be a JSON object"),
    "JSON string": (b'"hi"', "application/json", "must be a JSON object"),
    "invalid UTF-8": (b'{"messages": "\xff\xfe"}', "application/json", None),
    "NaN literal": (b'{"messages": NaN}', "application/json", None),
    "nested 100 levels": (json.dumps({"x": _nested(100)}).encode(), "application/json", "Nested more than 64 levels"),
    "nested 300 levels": (json.dumps({"x": _nested(300)}).encode(), "application/json", "Nested more than 64 levels"),
    "nested 1000 levels": (b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}", "application/json", "Nested more than 64"),
    "text/plain": (b'{"messages": []}', "text/plain", None),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
@pytest.mark.parametrize("route", POST_ROUTES)
def test_bad_bodies_are_400(live, mock_openrouter, route, case):
    data, content_type, message = BAD_BODIES[case]
    before = mock_openrouter.hits("/chat/completions")
    response = call(live, "POST", route, data=data, headers={**auth(), "Content-Type": content_type})
    error_of(response, 400, "invalid_request_error", message)
    assert mock_openrouter.hits("/chat/completions") == before


NESTED_FIELDS = {
    "provider": ("/chat/completions", lambda deep: {"messages": user("hi"), "provider": deep}),
    "message extra": ("/chat/completions", lambda deep: {"messages": [{"role": "user", "content": "x", "r": deep}]}),
    "content part": (
        "/chat/stream",
        lambda deep: {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "r": deep}]}]},
    ),
    "tool parameters": (
        "/tools/invoke",
        lambda deep: {
            "messages": user("x"),
            "tools": [{"type": "function", "function": {"name": "f", "parameters": deep}}],
        },
    ),
    "submitted output": (
        "/tools/submit",
        lambda deep: {"session_id": "tsess_x", "tool_outputs": [{"tool_call_id": "c", "output": deep}]},
    ),
}


@pytest.mark.parametrize("case", list(NESTED_FIELDS))
def test_pass_through_objects_nested_past_the_bound_are_400(live, case):
    route, make = NESTED_FIELDS[case]
    for depth in (70, 255, 600):
        response = call(live, "POST", route, json=make(_nested(depth)), headers=auth())
        error_of(response, 400, "invalid_request_error", "Nested more than 64 levels deep")


@pytest.mark.parametrize("value", [str(2**64), str(2**63), "-1", "0", "1e3", "1_000", "٣", " 5", "9" * 40])
@pytest.mark.parametrize("route", ["/vision", "/audio"])
def test_form_integers_are_strict(live, route, value):
    media = {"image": ("a.png", PNG)} if route == "/vision" else {"audio": ("a.wav", WAV)}
    response = call(live, "POST", route, headers=auth(), data={"prompt": "p", "max_tokens": value}, files=media)
    error = error_of(response, 400, "invalid_request_error")
    assert list(error["details"]) == ["max_tokens"]


# --------------------------------------------------------------------------- hostile built-in arguments

HOSTILE_CALCULATIONS = {
    "2**64": str(2**64),
    "-2**63-1": str(-(2**63) - 1),
    "2**9999": str(2**9999),
    "-(2**9999)": str(-(2**9999)),
    "2**63": str(2**63),
    "18446744073709551615 * 18446744073709551615": str((2**64 - 1) ** 2),
    "2**10001": None,
    "9**9**9": None,
    "10**4000": None,
    "1e308 * 10": None,
    "(" * 60 + "1" + ")" * 60: None,
    "1" + "+1" * 400: 401,
    "1" + "+1" * 600: None,  # longer than the built-in's 1,000 characters
    "__import__('os')": None,
    "1/0": None,
}


@pytest.mark.parametrize("expression", list(HOSTILE_CALCULATIONS))
def test_hostile_calculations_answer_never_500(live, expression):
    arguments = orjson.dumps({"expression": expression}).decode()
    body = {"model": MODEL, "messages": user(f"[[call:calculate:{arguments}]]"), "builtin_tools": ["calculate"]}
    response = call(live, "POST", "/tools/invoke", json=body, headers=auth("calc"))
    assert response.status_code == 200, response.text
    [done] = response.json()["executed_tool_calls"]
    expected = HOSTILE_CALCULATIONS[expression]
    if expected is None:
        assert set(done) == {"id", "name", "arguments", "error"} and done["error"]
    else:
        assert done["output"] == {"expression": expression, "result": expected}


HOSTILE_BUILTINS = [
    ("convert_units", {"value": 1e308, "from_unit": "km", "to_unit": "mm"}),
    ("convert_units", {"value": 10**30, "from_unit": "m", "to_unit": "ft"}),
    ("date_calculate", {"operation": "add", "date": "9999-12-31", "days": 10**18}),
    ("generate_random", {"kind": "integer", "min": -(2**80), "max": 2**80}),
    ("generate_random", {"kind": "integer", "count": 10**9}),
    ("text_statistics", {"text": "\n" * 5_000 + "a." * 5_000}),
    ("get_current_time", {"timezone": "../../etc/passwd"}),
    ("calculate", {"expression": 2**70}),
    ("calculate", {}),
]


@pytest.mark.parametrize(("name", "arguments"), HOSTILE_BUILTINS)
def test_hostile_builtin_arguments_answer_never_500(live, name, arguments):
    text = f"[[call:{name}:{json.dumps(arguments)}]]"
    body = {"model": MODEL, "messages": user(text), "builtin_tools": True}
    response = call(live, "POST", "/tools/invoke", json=body, headers=auth("builtins"))
    assert response.status_code == 200, response.text
    [done] = response.json()["executed_tool_calls"]
    assert ("output" in done) != ("error" in done)
    orjson.dumps(done)  # whatever came out, it serialises


# --------------------------------------------------------------------------- session theft and session limits


def _pending_session(live, sub, text="[[call:get_weather:{}]]"):
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    body = {"model": MODEL, "messages": user(text), "tools": [weather]}
    response = call(live, "POST", "/tools/invoke", json=body, headers=auth(sub))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "requires_action"
    return answer["session_id"], answer["tool_calls"][0]["id"]


def _submit(live, sub, session_id, call_id, output="x"):
    body = {"session_id": session_id, "tool_outputs": [{"tool_call_id": call_id, "output": output}]}
    return call(live, "POST", "/tools/submit", json=body, headers=auth(sub))


def test_session_theft_is_404(live):
    session_id, call_id = _pending_session(live, "victim")
    for thief_id in (session_id, session_id + "x", session_id.upper(), "tsess_" + "A" * 32, "gw:tsess:x"):
        error_of(_submit(live, "thief", thief_id, call_id), 404, "not_found_error")
    for odd in (None, 42, [session_id], {"id": session_id}, "", "x" * 201):
        body = {"session_id": odd, "tool_outputs": [{"tool_call_id": call_id, "output": "x"}]}
        error_of(call(live, "POST", "/tools/submit", json=body, headers=auth("thief")), 400, "invalid_request_error")
    assert _submit(live, "victim", session_id, call_id).status_code == 200  # untouched by the attempts
    error_of(_submit(live, "victim", session_id, call_id), 409, "conflict_error")


def test_pending_sessions_are_capped(live, mock_openrouter):
    sessions = [_pending_session(live, "hoarder") for _ in range(CAP)]
    before = mock_openrouter.hits("/chat/completions")
    body = {"model": MODEL, "messages": user("[[call:get_weather:{}]]"), "builtin_tools": True}
    refused = call(live, "POST", "/tools/invoke", json=body, headers=auth("hoarder"))
    error_of(refused, 429, "rate_limit_error", f"at most {CAP} per user (MAX_TOOL_SESSIONS_PER_USER)")
    assert int(refused.headers["Retry-After"]) >= 1
    assert mock_openrouter.hits("/chat/completions") == before  # refused before any paid call
    assert _submit(live, "hoarder", *sessions[0]).status_code == 200
    _pending_session(live, "hoarder")


def test_oversized_sessions_are_413(live, mock_openrouter):
    before = mock_openrouter.hits("/chat/completions")
    body = {"model": MODEL, "messages": user("x" * SESSION_BYTES), "builtin_tools": True}
    error_of(call(live, "POST", "/tools/invoke", json=body, headers=auth("big")), 413, "request_too_large")
    session_id, call_id = _pending_session(live, "big")
    error_of(_submit(live, "big", session_id, call_id, "y" * SESSION_BYTES), 413, "request_too_large")
    assert mock_openrouter.hits("/chat/completions") == before + 1
    assert _submit(live, "big", session_id, call_id, "small").status_code == 200


# --------------------------------------------------------------------------- header and path tricks


@pytest.mark.parametrize(
    "path", ["//chat/completions", "/chat//completions", "/chat/completions/", "//tools/invoke", "/models/", "//health"]
)
def test_no_redirect_whatever_the_forwarded_host(live, path):
    headers = {**auth(), "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "Host": "evil.example"}
    for method in ("GET", "POST"):
        error_of(call(live, method, path, headers=headers, json={}), 404, "not_found_error", "No such route")


def test_forged_log_lines_are_escaped(live):
    base, log = live
    path = "/x%0A" + FORGED.replace(" ", "%20") + "%0D%0Aagain"
    error_of(call(live, "GET", path), 404, "not_found_error")
    deadline = time.monotonic() + 5
    while "/x\\n2026" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [line for line in log.read_text().splitlines() if "/x\\n2026" in line]
    assert "\\r\\nagain 404" in line


@pytest.mark.parametrize("request_id", ["a\nb", "x" * 129, "<script>", "id with space", ""])
def test_hostile_request_ids_are_replaced(live, request_id):
    response = call(live, "GET", "/nowhere", headers={"X-Request-ID": request_id.replace("\n", "%0A")})
    error = error_of(response, 404, "not_found_error")
    assert error["request_id"] != request_id and len(error["request_id"]) == 32


# --------------------------------------------------------------------------- secrets in every answer


@pytest.mark.parametrize(("fault", "status"), FAULT_STATUS.items())
def test_an_upstream_echoing_our_key_never_passes_it_on(live, fault, status):
    text = f"x [[fault:{fault}]] [[echo_auth]]"
    response = call(live, "POST", "/chat/completions", json={"messages": user(text)}, headers=auth("echo"))
    assert response.status_code == status
    assert response.json()["error"]["type"]


@pytest.mark.parametrize("fault", ["stream-error", "error-200", "invalid-json", "finish-error"])
def test_an_echoing_stream_never_passes_the_key_on(live, fault):
    body = {"messages": user(f"x [[fault:{fault}]] [[echo_auth]]"), "stream": True}
    response = call(live, "POST", "/chat/completions", json=body, headers=auth("echo"))
    assert response.status_code == 200
    assert response.text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize("route", ["/vision", "/audio", "/tools/invoke"])
def test_echoed_key_on_media_and_tools(live, route):
    text = "x [[fault:502]] [[echo_auth]]"
    bodies = {
        "/vision": {"prompt": text, "images": [{"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}]},
        "/audio": {"prompt": text, "audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"}},
        "/tools/invoke": {"model": MODEL, "messages": user(text), "builtin_tools": True},
    }
    error_of(call(live, "POST", route, json=bodies[route], headers=auth("echo")), 502, "upstream_error", "[REDACTED]")


# --------------------------------------------------------------------------- the same with Redis and two workers


@pytest.fixture(scope="module")
def live_redis(mock_openrouter, tmp_path_factory):
    from tests.servers import run_redis

    log = tmp_path_factory.mktemp("hostile-redis") / "gunicorn.log"
    with run_redis() as (url, redis_proc):
        env = live_env(
            mock_openrouter.url,
            SECRET,
            LOG_LEVEL="INFO",
            LOG_FORMAT="text",
            REDIS_URL=url,
            WEB_CONCURRENCY="2",
            MAX_TOOL_SESSIONS_PER_USER=str(CAP),
            RATELIMIT_FUNCTION_CALLING="10000/minute",
        )
        with run_gunicorn(env, log_path=log) as (base, proc):
            yield (base, log), redis_proc
    text = log.read_text()
    assert MOCK_KEY not in text and "Traceback" not in text


def test_session_cap_holds_across_workers(live_redis, mock_openrouter):
    live, _ = live_redis
    for _ in range(CAP):
        _pending_session(live, "hoarder-redis")
    body = {"model": MODEL, "messages": user("[[call:get_weather:{}]]"), "builtin_tools": True}
    for _ in range(4):  # whichever worker answers
        refused = call(live, "POST", "/tools/invoke", json=body, headers=auth("hoarder-redis"))
        error_of(refused, 429, "rate_limit_error", "MAX_TOOL_SESSIONS_PER_USER")
    session_id, call_id = _pending_session(live, "victim-redis")
    error_of(_submit(live, "thief", session_id, call_id), 404, "not_found_error")


def test_a_redis_freeze_during_a_submit_loses_neither_the_session_nor_the_paid_call(live_redis, mock_openrouter):
    import os
    import signal
    import threading

    live, redis_proc = live_redis
    session_id, call_id = _pending_session(live, "hiccup", "[[delay_ms:700]] [[call:get_weather:{}]]")
    before, answers = mock_openrouter.hits("/chat/completions"), []
    submitting = threading.Thread(target=lambda: answers.append(_submit(live, "hiccup", session_id, call_id, "sunny")))
    submitting.start()
    assert mock_openrouter.wait_for(lambda: mock_openrouter.hits("/chat/completions") == before + 1)
    os.kill(redis_proc.pid, signal.SIGSTOP)  # while the model call runs: the save meets a frozen Redis
    try:
        submitting.join(15)
    finally:
        os.kill(redis_proc.pid, signal.SIGCONT)
    error_of(answers[0], 503, "service_unavailable", "send the same outputs again")
    deadline, retried = time.monotonic() + 15, None
    while time.monotonic() < deadline:  # the worker holding the result stores it once its breaker lets it
        retried = _submit(live, "hiccup", session_id, call_id, "sunny")
        if retried.status_code not in (409, 503):
            break
        time.sleep(0.25)
    assert retried.status_code == 200, retried.text
    answer = retried.json()
    assert (answer["status"], answer["message"]["content"]) == ("completed", "Tool results: sunny")
    assert mock_openrouter.hits("/chat/completions") == before + 1  # the paid call was not made twice


# --------------------------------------------------------------------------- the other helpers' probes


@pytest.mark.parametrize("claim", ["exp", "nbf"])
def test_numeric_string_times_are_401_every_time(live, claim):
    now = int(time.time())
    claims = {"sub": "strings", "exp": now + 600, "nbf": now - 10, claim: str(now + 600 if claim == "exp" else now)}
    headers = {"Authorization": f"Bearer {pyjwt.encode(claims, SECRET, algorithm='HS256')}"}
    for _ in range(2):  # once was fine and the second call a 500 (the verified-token cache)
        error_of(call(live, "GET", "/models", headers=headers), 401, "authentication_error")


def _raw(live, request):
    """Send raw bytes to the gateway; its status line and JSON body."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(live[0])
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # the server closed with our unread bytes still queued: its answer came first
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    assert MOCK_KEY.encode() not in answer
    return int(head.split(b" ", 2)[1]), head, body


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ("Authorization: Bearer " + "a" * 133_000 + "\r\n", 431),
        ("X-Request-ID: " + "r" * 10_000 + "\r\n", 431),
        ("".join(f"X-H{i}: v\r\n" for i in range(150)), 431),
        ("X-Bad: a\x01b\r\n", 400),
    ],
)
def test_gunicorns_own_refusals_are_our_json(live, extra, status):
    request = f"GET {API}/models HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n".encode("latin-1")
    code, head, body = _raw(live, request)
    assert code == status
    assert b"Content-Type: application/json" in head
    assert orjson.loads(body)["error"]["code"] == status


def test_a_request_line_too_long_is_our_json_414(live):
    code, head, body = _raw(live, f"GET {API}/models?{'q' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert code == 414 and orjson.loads(body)["error"]["code"] == 414


@pytest.mark.parametrize("setting", ["RATELIMIT_CHAT", "RATELIMIT_EMBEDDINGS"])
def test_a_malformed_limit_refuses_to_start_naming_it(setting, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    env = {"GATEWAY_ENV": "production", "JWT_SECRET_KEY": SECRET, setting: "ten per minute", "REDIS_URL": ""}
    code = "from app import create_app; create_app()"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert setting in done.stderr.splitlines()[-1]  # the error names the setting
