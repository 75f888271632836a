"""Usage accounting by UTC day and model, the caller's own only, and the daily budget."""

from datetime import timedelta

import pytest

from tests.conftest import WAV, assert_error, b64, token_for

CHAT = "/api/v2/openrouter/chat/completions"
USAGE = "/api/v2/openrouter/usage"


def call(app, text="hi", sub="alice", model="openai/gpt-4o", stream=False):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    with app.test_client().post(CHAT, json=body, headers={"Authorization": f"Bearer {token_for(app, sub)}"}) as r:
        r.get_data()
        return r


def report(app, sub="alice", days=7):
    return app.test_client().get(f"{USAGE}?days={days}", headers={"Authorization": f"Bearer {token_for(app, sub)}"})


def test_usage_totals_after_a_mix_of_calls(usage_app, upstream):
    build, clock = usage_app
    app = build()
    call(app, "one")
    call(app, "two", model="google/gemini-2.5-flash")
    call(app, "three", stream=True)
    call(app, "other user", sub="bob")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token_for(app)}"}
    with client.post(
        "/api/v2/openrouter/chat/stream",
        headers=headers,
        buffered=False,
        json={"messages": [{"role": "user", "content": "long [[chunks:20]] [[interval_ms:50]]"}]},
    ) as r:
        next(r.response)  # the client reads one event, then goes away
    body = report(app).get_json()
    assert body["object"] == "usage" and body["user"] == "alice" and body["days"] == 7
    today = body["daily"][0]
    assert today["date"] == "2026-11-26"
    assert [d["date"] for d in body["daily"]][-1] == "2026-11-20"
    gpt = today["models"]["openai/gpt-4o"]
    assert gpt["requests"] == 2 and gpt["prompt_tokens"] > 0 and gpt["completion_tokens"] > 0 and gpt["cost"] > 0
    assert today["models"]["google/gemini-2.5-flash"]["requests"] == 1
    abandoned = today["models"]["anthropic/claude-sonnet-4.5"]
    assert abandoned == {"requests": 1, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    assert today["requests"] == body["totals"]["requests"] == 4
    assert body["totals"]["cost"] == pytest.approx(sum(m["cost"] for m in today["models"].values()))
    assert "bob" not in str(body)
    assert report(app, "bob").get_json()["totals"]["requests"] == 1


@pytest.mark.parametrize("days", ["0", "91", "abc"])
def test_bad_days_is_400(client, auth_headers, days):
    error = assert_error(client.get(f"{USAGE}?days={days}", headers=auth_headers), 400, "invalid_request_error")
    assert list(error["details"]) == ["days"]


def test_daily_budget_turns_calls_into_429_until_midnight(usage_app):
    build, clock = usage_app
    app = build(USER_DAILY_BUDGET_USD=0.0001)  # the stand-in charges 0.00006 for each of these calls
    assert call(app, "a").status_code == 200
    assert call(app, "b").status_code == 200
    refused = call(app, "c")
    assert_error(refused, 429, "rate_limit_error", "Daily budget of $0.0001 reached")
    assert refused.headers["Retry-After"] == "60"  # 23:59 → 00:00 UTC
    assert call(app, "d", sub="bob").status_code == 200
    clock.now += timedelta(minutes=2)
    assert call(app, "e").status_code == 200


def test_vision_audio_and_tool_calls_are_counted(usage_app):
    build, clock = usage_app
    app = build()
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app)}"}
    calls = [
        ("/api/v2/openrouter/vision", {"prompt": "what?", "images": [{"url": "https://example.com/a.png"}]}),
        ("/api/v2/openrouter/audio", {"audio": {"data": b64(WAV), "format": "wav"}}),
        (
            "/api/v2/openrouter/tools/invoke",
            {
                "model": "openai/gpt-4o",
                "builtin_tools": ["calculate"],
                "messages": [{"role": "user", "content": 'sum [[call:calculate:{"expression":"6*7"}]]'}],
            },
        ),
    ]
    for url, body in calls:
        with client.post(url, json=body, headers=headers) as response:
            assert response.status_code == 200, response.get_data(as_text=True)
    models = report(app).get_json()["daily"][0]["models"]
    assert models["openai/gpt-4o"]["requests"] == 3  # vision, then the tool loop's two model calls
    assert models["google/gemini-2.5-flash"]["requests"] == 1  # audio
    assert all(m["cost"] > 0 and m["completion_tokens"] > 0 for m in models.values())


def test_unknown_query_parameters_are_ignored(client, auth_headers):
    assert client.get(f"{USAGE}?days=2&foo=1", headers=auth_headers).get_json()["days"] == 2
