"""Quotas: flask-limiter buckets keyed by the JWT sub, headers, 429 envelope, and the concurrency cap."""

import time

from tests.conftest import assert_error, make_app, token_for
from webapp.composition import services_of

QUOTA = "/api/v2/openrouter/_test/quota"
HOLD = "/api/v2/openrouter/_test/hold"


def bearer(app, sub):
    return {"Authorization": f"Bearer {token_for(app, sub)}"}


def test_limit_per_user_with_headers():
    app = make_app(RATELIMIT_CHAT="3/minute")
    client, alice = app.test_client(), bearer(app, "alice")
    before = time.time()
    for remaining in (2, 1, 0):
        response = client.post(QUOTA, headers=alice)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert before + 59 <= int(response.headers["X-RateLimit-Reset"]) <= time.time() + 61
    response = client.post(QUOTA, headers=alice)
    error = assert_error(response, 429, "rate_limit_error", "3 per 1 minute")
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert set(error) == {"code", "type", "message", "request_id"}
    # Another user has a bucket of their own, even from the same address.
    assert client.post(QUOTA, headers=bearer(app, "bob")).status_code == 200


def test_unauthenticated_request_is_401_not_counted():
    app = make_app(RATELIMIT_CHAT="1/minute")
    client = app.test_client()
    for _ in range(3):
        assert_error(client.post(QUOTA), 401, "authentication_error")
    assert client.post(QUOTA, headers=bearer(app, "alice")).status_code == 200


def test_quotas_off():
    app = make_app(RATELIMIT_CHAT="1/minute", RATELIMIT_ENABLED=False)
    client, alice = app.test_client(), bearer(app, "alice")
    for _ in range(3):
        response = client.post(QUOTA, headers=alice)
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers


def test_concurrency_cap_holds_until_the_response_closes():
    app = make_app(MAX_CONCURRENT_PER_USER=2)
    client, alice = app.test_client(), bearer(app, "alice")
    counter = services_of(app).concurrency
    first = client.get(HOLD, headers=alice, buffered=False)
    second = client.get(HOLD, headers=alice, buffered=False)
    assert (first.status_code, second.status_code) == (200, 200)
    assert counter.held("alice") == 2
    third = client.get(HOLD, headers=alice, buffered=False)
    assert_error(third, 429, "rate_limit_error", "at most 2 at once")
    assert third.headers["Retry-After"] == "1"
    assert client.get(HOLD, headers=bearer(app, "bob"), buffered=False).status_code == 200
    first.close()
    assert counter.held("alice") == 1
    fourth = client.get(HOLD, headers=alice, buffered=False)
    assert fourth.status_code == 200
    assert b"".join(fourth.response) == b"one\ntwo\n"
    for response in (second, fourth):
        response.close()
    assert counter.held("alice") == 0


def test_errors_release_the_slot():
    app = make_app(MAX_CONCURRENT_PER_USER=1)
    client, alice = app.test_client(), bearer(app, "alice")
    for _ in range(3):
        with client.post(QUOTA, headers=alice) as response:
            assert response.status_code == 200
    assert services_of(app).concurrency.held("alice") == 0


def test_concurrency_cap_holds_with_rate_limits_off():
    app = make_app(RATELIMIT_ENABLED=False, MAX_CONCURRENT_PER_USER=1)
    client, alice = app.test_client(), bearer(app, "alice")
    first = client.get(HOLD, headers=alice, buffered=False)
    assert first.status_code == 200
    assert_error(client.get(HOLD, headers=alice, buffered=False), 429, "rate_limit_error", "at most 1 at once")
    first.close()
