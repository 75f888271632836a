"""Each app owns its quota state: storage, on/off switch, fail-open; and Redis settings parse as in production."""

import os
import signal
import time

import pytest
import requests

from core.config import Config, TestConfig
from services.quota_storage import LeanMemoryStorage, RedisQuotaStorage
from tests.conftest import MOCK_KEY, make_app, token_for
from tests.servers import run_redis, serve_app
from webapp.composition import services_of
from webapp.quota_state import AppStorage

QUOTA = "/api/v2/openrouter/_test/quota"
CHAT = "/api/v2/openrouter/chat/completions"


def bearer(app, sub="alice"):
    return {"Authorization": f"Bearer {token_for(app, sub)}"}


def statuses(app, n, sub="alice"):
    client = app.test_client()
    return [client.post(QUOTA, headers=bearer(app, sub)).status_code for _ in range(n)]


def test_a_second_app_does_not_repoint_or_switch_off_the_first():
    first = make_app(RATELIMIT_CHAT="2/minute")
    with run_redis() as (url, _):
        second = make_app(RATELIMIT_ENABLED=False, REDIS_URL=url)
        assert statuses(first, 3) == [200, 200, 429]
        assert statuses(second, 3) == [200, 200, 200]
    assert isinstance(services_of(first).quota_state.storage, LeanMemoryStorage)
    third = make_app(RATELIMIT_CHAT="1/minute")
    assert statuses(third, 2) == [200, 429]
    assert statuses(first, 1, "bob") == [200]  # the first app's own window, untouched by the third
    from webapp.extensions import limiter

    assert isinstance(limiter.storage, AppStorage)  # what flask-limiter holds is only the forwarder


def test_test_config_parses_redis_url_like_config():
    url = "redis://127.0.0.1:6390/2"
    assert url == TestConfig(REDIS_URL=url).RATELIMIT_STORAGE_URI
    assert url == Config({"REDIS_URL": url}).RATELIMIT_STORAGE_URI
    given = TestConfig(REDIS_URL=url, RATELIMIT_STORAGE_URI="memory://")
    assert (url, "memory://") == (given.REDIS_URL, given.RATELIMIT_STORAGE_URI)
    assert TestConfig(MAX_CONCURRENT_PER_USER=3).MAX_CONCURRENT_PER_USER == 3


def test_the_rate_limit_storage_follows_redis_url():
    with run_redis() as (url, _):
        app = make_app(REDIS_URL=url)
        state = services_of(app).quota_state
        assert isinstance(state.storage, RedisQuotaStorage) and state.combined
        assert state.storage.client is services_of(app).redis  # one client, one breaker, one pool
        assert statuses(app, 1) == [200]


@pytest.mark.parametrize("fail_open", [True, False])
def test_a_frozen_redis_costs_at_most_one_timeout(upstream, fail_open):
    with run_redis() as (url, proc):
        app = make_app(
            REDIS_URL=url,
            OPENROUTER_BASE_URL=upstream.url,
            OPENROUTER_API_KEY=MOCK_KEY,
            RATELIMIT_FAIL_OPEN=fail_open,
            USER_DAILY_BUDGET_USD=1.0,
        )
        with serve_app(app) as base:
            headers, body = bearer(app), {"messages": [{"role": "user", "content": "hi"}]}
            assert requests.post(base + CHAT, json=body, headers=headers, timeout=5).status_code == 200
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                timings = []
                for _ in range(4):
                    started = time.monotonic()
                    response = requests.post(base + CHAT, json=body, headers=headers, timeout=5)
                    timings.append(time.monotonic() - started)
                    assert response.status_code == (200 if fail_open else 503)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
    # The first call waits out the timeout (0.3 s, one retry); then the breaker answers for every Redis step.
    assert timings[0] < 1.0, timings
    assert max(timings[1:]) < 0.29, timings  # under one 0.3 s timeout: no call waited on Redis again


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONCURRENCY_SLOT_TTL", "0", "CONCURRENCY_SLOT_TTL must be a positive"),
        ("CONCURRENCY_SLOT_TTL", "soon", "CONCURRENCY_SLOT_TTL must be a number"),
        ("REDIS_MAX_CONNECTIONS", "0", "REDIS_MAX_CONNECTIONS must be at least 1"),
    ],
)
def test_bad_scale_out_settings_refuse_to_start(name, value, message):
    from core.config import ConfigError

    env = {"GATEWAY_ENV": "development", name: value}
    with pytest.raises(ConfigError, match=message):
        Config(env).validate()
