"""Prometheus metrics after traffic, and the METRICS_TOKEN guard."""

from tests.conftest import assert_error, gateway_app, make_app, samples, token_for, value

METRICS = "/api/v2/openrouter/metrics"
CHAT = "/api/v2/openrouter/chat/completions"


def test_metrics_count_traffic(upstream):
    app = gateway_app(upstream, RATELIMIT_CHAT="2/minute")
    client = app.test_client()
    before = samples(client.get(METRICS).get_data(as_text=True))
    headers = {"Authorization": f"Bearer {token_for(app, 'metrics-user')}"}
    for text in ("a", "b", "c [[fault:502]]"):
        with client.post(
            CHAT, json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}]}, headers=headers
        ) as r:
            r.get_data()
    with client.post(
        "/api/v2/openrouter/chat/stream",
        headers=headers,
        json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "s"}]},
    ) as r:
        r.get_data()
    response = client.get(METRICS)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    after = samples(response.get_data(as_text=True))

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gateway_requests_total", route=CHAT, method="POST", status="200") == 2
    assert delta("gateway_requests_total", route=CHAT, method="POST", status="429") == 1
    assert delta("gateway_rate_limited_total", route=CHAT) == 1
    assert delta("gateway_request_duration_seconds_count", route=CHAT) == 3
    assert delta("gateway_upstream_duration_seconds_count", endpoint="chat") == 2
    assert delta("gateway_upstream_duration_seconds_count", endpoint="chat_stream") == 1
    assert delta("gateway_stream_first_chunk_seconds_count") == 1
    assert value(after, "gateway_streams_in_flight") == 0
    assert delta("gateway_tokens_total", model="openai/gpt-4o", kind="prompt") > 0
    assert delta("gateway_tokens_total", model="openai/gpt-4o", kind="completion") > 0
    assert delta("gateway_cost_usd_total", model="openai/gpt-4o") > 0


def test_upstream_errors_by_status(upstream):
    app = gateway_app(upstream)
    client = app.test_client()
    before = samples(client.get(METRICS).get_data(as_text=True))
    with client.post(
        CHAT,
        json={"messages": [{"role": "user", "content": "x [[fault:503]]"}]},
        headers={"Authorization": f"Bearer {token_for(app)}"},
    ) as r:
        assert r.status_code == 502
    after = samples(client.get(METRICS).get_data(as_text=True))
    labels = {"endpoint": "chat", "status": "503"}
    assert (
        value(after, "gateway_upstream_errors_total", **labels)
        - value(before, "gateway_upstream_errors_total", **labels)
        == 1
    )


def test_metrics_token():
    client = make_app(METRICS_TOKEN="scrape-me").test_client()
    assert_error(client.get(METRICS), 401, "authentication_error", "METRICS_TOKEN")
    assert_error(client.get(METRICS, headers={"Authorization": "Bearer wrong"}), 401, "authentication_error")
    assert client.get(METRICS, headers={"Authorization": "Bearer scrape-me"}).status_code == 200
