"""The real gunicorn with gunicorn.conf.py over real sockets: probes, streaming timing, disconnects, the SDK."""

import threading

import openai
import orjson
import pytest
import requests

from tests.conftest import live_auth, live_token, read_events

API = "/api/v2/openrouter"


def test_probes_401_and_404(live):
    base, _ = live
    assert requests.get(f"{base}{API}/health/live").json() == {"status": "ok"}
    health = requests.get(f"{base}{API}/health")
    assert health.status_code == 200 and health.json()["checks"]["upstream"]["base_url_is_loopback"] is True
    r401 = requests.post(f"{base}{API}/chat/completions", json={"messages": []})
    assert r401.status_code == 401 and r401.json()["error"]["type"] == "authentication_error"
    r404 = requests.get(f"{base}/nowhere")
    assert r404.status_code == 404 and r404.json()["error"]["type"] == "not_found_error"
    assert r404.headers["X-Request-ID"] == r404.json()["error"]["request_id"]


def test_health_answers_while_slow_calls_hold_threads(live, upstream):
    base, _ = live
    body = {"messages": [{"role": "user", "content": "slow [[fault:slow]] [[delay_ms:3000]]"}]}
    calls = [
        threading.Thread(
            target=requests.post,
            args=(f"{base}{API}/chat/completions",),
            kwargs={"json": body, "headers": live_auth(f"u{i}"), "timeout": 30},
        )
        for i in range(4)
    ]
    for call in calls:
        call.start()
    assert upstream.wait_for(lambda: upstream.hits("/chat/completions") == 4)
    health = requests.get(f"{base}{API}/health", timeout=2)
    assert health.status_code == 200
    assert not any(r.finished for r in upstream.requests if r.path.endswith("/chat/completions"))
    for call in calls:
        call.join(30)


def test_stream_is_not_buffered(live, upstream):
    base, _ = live
    body = {"messages": [{"role": "user", "content": "tick [[chunks:5]] [[interval_ms:300]]"}]}
    with requests.post(f"{base}{API}/chat/stream", json=body, headers=live_auth(), stream=True, timeout=30) as response:
        arrivals = list(read_events(response))
    sent = upstream.last("/chat/completions").events
    assert [e for _, e in arrivals] == [e for _, e in sent]
    for (arrived, _), (left, _) in zip(arrivals, sent, strict=True):
        assert arrived - left < 0.15, "an event was held back by the gateway"


def test_client_disconnect_closes_upstream(live, upstream):
    base, _ = live
    body = {"messages": [{"role": "user", "content": "long [[chunks:50]] [[interval_ms:100]]"}]}
    response = requests.post(f"{base}{API}/chat/stream", json=body, headers=live_auth(), stream=True, timeout=30)
    events = read_events(response)
    for _ in range(4):
        next(events)
    response.close()
    assert upstream.wait_for(lambda: upstream.last("/chat/completions").client_disconnected, timeout=10)
    record = upstream.last("/chat/completions")
    assert not record.finished
    assert len(record.events) < 12  # stopped within a few chunks, not after all 50


def sdk(base, **kwargs):
    return openai.OpenAI(base_url=f"{base}{API}", api_key=live_token(), **kwargs)


def test_openai_sdk_plain_stream_and_second_turn(live, upstream):
    base, _ = live
    client = sdk(base)
    completion = client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "Mock reply to: hi"
    chunks = list(
        client.chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "hey"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: hey"
    assert chunks[-1].usage.total_tokens > 0
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    messages = [{"role": "user", "content": 'weather? [[call:get_weather:{"city":"Paris"}]]'}]
    first = client.chat.completions.create(model="openai/gpt-4o", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, orjson.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    messages += [
        first.choices[0].message.model_dump(exclude_unset=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.completions.create(model="openai/gpt-4o", messages=messages, tools=tools)
    assert second.choices[0].message.content == "Tool results: sunny"


def test_openai_sdk_errors_and_retries(live, upstream):
    base, _ = live
    client = sdk(base, max_retries=2)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "robot", "content": "x"}])
    assert bad.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "user", "content": "x [[fault:502]]"}])
    assert failed.value.status_code == 502
    assert upstream.hits("/chat/completions") == 1  # x-should-retry: false stopped the SDK's retries
