"""Health: liveness, readiness from cached checks, never waiting on OpenRouter, never rate limited."""

import time

from tests.conftest import MOCK_KEY, make_app
from webapp.composition import services_of

HEALTH = "/api/v2/openrouter/health"


def test_liveness(client):
    response = client.get(HEALTH + "/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readiness_shape_and_cached_upstream_check(gateway, upstream):
    client = gateway.test_client()
    probe = services_of(gateway).probe
    first = client.get(HEALTH).get_json()
    assert set(first) == {"status", "version", "uptime_s", "checks"}
    assert set(first["checks"]) == {"upstream", "rate_limit_storage", "session_store"}
    assert first["checks"]["rate_limit_storage"] == {"status": "ok", "backend": "memory"}
    assert probe.wait_idle()
    for _ in range(5):
        body = client.get(HEALTH).get_json()
        assert body["status"] == "ok"
        assert body["checks"]["upstream"]["status"] == "ok"
        assert body["checks"]["upstream"]["base_url_is_loopback"] is True
    assert upstream.hits("/key") == 1  # one check per 30 s, however many probes


def test_probe_never_waits_for_a_slow_upstream(gateway, upstream):
    upstream.configure(key_delay_ms=2000)
    client = gateway.test_client()
    started = time.monotonic()
    for _ in range(3):
        body = client.get(HEALTH).get_json()
        assert body["checks"]["upstream"]["status"] == "unknown"
    assert time.monotonic() - started < 1.0
    assert upstream.wait_for(lambda: upstream.hits("/key") == 1)


def test_upstream_refusing_our_key_is_degraded(gateway, upstream):
    upstream.configure(key_fault="401")
    client = gateway.test_client()
    client.get(HEALTH)
    assert services_of(gateway).probe.wait_idle()
    response = client.get(HEALTH)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["upstream"]["status"] == "degraded"
    assert "401" in body["checks"]["upstream"]["detail"]
    assert MOCK_KEY not in response.get_data(as_text=True)


def test_no_key_is_degraded_without_calling_upstream(upstream):
    app = make_app(OPENROUTER_BASE_URL=upstream.url, OPENROUTER_API_KEY=None)
    body = app.test_client().get(HEALTH).get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["upstream"]["detail"] == "OPENROUTER_API_KEY is not configured"
    assert upstream.hits("/key") == 0


def test_health_is_never_rate_limited():
    app = make_app(RATELIMIT_CHAT="1/minute")
    client = app.test_client()
    for _ in range(20):
        response = client.get(HEALTH)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
