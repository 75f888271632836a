"""Quota tiers from a token claim: every bucket's limit, concurrency and budget, in memory and in Redis."""

import pytest

from core.config import Config, ConfigError
from tests.conftest import MOCK_KEY, PNG, WAV, assert_error, b64, make_app, token_for
from tests.servers import run_redis
from webapp.composition import services_of

API = "/api/v2/openrouter"
TIERS = {
    "team": {"chat": "5/minute", "max_concurrent": 1, "daily_budget_usd": 0.5},
    "intern": {"chat": "2/minute", "daily_budget_usd": 1},
    "tight": {bucket: "1/minute" for bucket in ("chat", "streaming", "vision", "audio", "function_calling")}
    | {"embeddings": "1/minute"},
}


@pytest.fixture(params=["memory", "redis"])
def tier_app(request, upstream):
    """A builder of gateways with TIERS (and the stand-in upstream), on memory or a real Redis."""

    def build(**overrides):
        settings = {"QUOTA_TIERS": TIERS, "OPENROUTER_BASE_URL": upstream.url, "OPENROUTER_API_KEY": MOCK_KEY}
        if request.param == "redis":
            settings.update(REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url)
        return make_app(**{**settings, **overrides})

    if request.param == "redis":
        with run_redis() as (redis_url, _):
            yield build
    else:
        yield build


def bearer(app, sub, **claims):
    return {"Authorization": f"Bearer {token_for(app, sub, **claims)}"}


def test_chat_limit_and_headers_follow_the_tier(tier_app):
    app = tier_app()
    client = app.test_client()
    cases = [
        ("t1", {"tier": "team"}, "5"),
        ("i1", {"tier": "intern"}, "2"),
        ("d1", {}, "30"),
        ("g1", {"tier": "x"}, "30"),
    ]
    for sub, claims, limit in cases:
        response = client.post(f"{API}/_test/quota", headers=bearer(app, sub, **claims))
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == limit
        assert response.headers["X-RateLimit-Remaining"] == str(int(limit) - 1)
    intern = bearer(app, "i1", tier="intern")
    assert client.post(f"{API}/_test/quota", headers=intern).status_code == 200
    refused = client.post(f"{API}/_test/quota", headers=intern)
    assert_error(refused, 429, "rate_limit_error", "2 per 1 minute")
    assert refused.headers["X-RateLimit-Limit"] == "2"


def test_a_non_string_tier_claim_gets_the_defaults(tier_app):
    app = tier_app()
    response = app.test_client().post(f"{API}/_test/quota", headers=bearer(app, "n1", tier=["team"]))
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "30"


def test_the_tier_claim_is_configurable(tier_app):
    app = tier_app(QUOTA_TIER_CLAIM="plan")
    client = app.test_client()
    assert (
        client.post(f"{API}/_test/quota", headers=bearer(app, "p1", plan="intern")).headers["X-RateLimit-Limit"] == "2"
    )
    assert (
        client.post(f"{API}/_test/quota", headers=bearer(app, "p2", tier="intern")).headers["X-RateLimit-Limit"] == "30"
    )


BUCKET_CALLS = [
    ("chat", "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("streaming", "/chat/stream", {"messages": [{"role": "user", "content": "hi"}]}),
    ("vision", "/vision", {"prompt": "what?", "images": [{"url": f"data:image/png;base64,{b64(PNG)}"}]}),
    ("audio", "/audio", {"audio": {"data": b64(WAV), "format": "wav"}}),
    ("function_calling", "/tools/invoke", {"messages": [{"role": "user", "content": "hi"}], "builtin_tools": True}),
    ("embeddings", "/_test/embeddings-quota", None),
]


@pytest.mark.parametrize("bucket, path, body", BUCKET_CALLS, ids=[b for b, _, _ in BUCKET_CALLS])
def test_every_bucket_takes_the_tier_limit(tier_app, bucket, path, body):
    app = tier_app()
    client = app.test_client()
    tight, default = bearer(app, "tight-user", tier="tight"), bearer(app, "plain-user")
    with client.post(API + path, json=body, headers=tight) as first:
        assert first.status_code == 200, first.get_data(as_text=True)
        assert first.headers["X-RateLimit-Limit"] == "1"
    with client.post(API + path, json=body, headers=tight) as second:
        assert_error(second, 429, "rate_limit_error", "1 per 1 minute")
    with client.post(API + path, json=body, headers=default) as other:
        assert other.status_code == 200
        assert other.headers["X-RateLimit-Limit"] == app.config[f"RATELIMIT_{bucket.upper()}"].split("/")[0]


def test_concurrency_cap_follows_the_tier(tier_app):
    app = tier_app()
    client = app.test_client()
    team, plain = bearer(app, "t2", tier="team"), bearer(app, "d2")
    held = client.get(f"{API}/_test/hold", headers=team, buffered=False)
    assert held.status_code == 200
    assert_error(client.get(f"{API}/_test/hold", headers=team, buffered=False), 429, "rate_limit_error", "at most 1")
    others = [client.get(f"{API}/_test/hold", headers=plain, buffered=False) for _ in range(2)]
    assert [r.status_code for r in others] == [200, 200]  # the default cap is 8
    for response in (held, *others):
        response.close()


def test_daily_budget_follows_the_tier(tier_app):
    app = tier_app(USER_DAILY_BUDGET_USD=100.0)
    usage = services_of(app).usage
    for sub in ("t3", "d3", "i3"):
        usage.record(sub, "openai/gpt-4o", {"cost": 1.0})
    client = app.test_client()
    refused = client.post(f"{API}/_test/quota", headers=bearer(app, "t3", tier="team"))
    assert_error(refused, 429, "rate_limit_error", "Daily budget of $0.5 reached")
    assert client.post(f"{API}/_test/quota", headers=bearer(app, "d3")).status_code == 200  # $100 by default
    intern = client.post(f"{API}/_test/quota", headers=bearer(app, "i3", tier="intern"))
    assert_error(intern, 429, "rate_limit_error", "Daily budget of $1 reached")


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", "QUOTA_TIERS is not JSON"),
        ('["team"]', "must be a JSON object"),
        ('{"team": 5}', "QUOTA_TIERS.team must be an object"),
        ('{"team": {"chats": "5/minute"}}', "QUOTA_TIERS.team.chats is not a tier setting"),
        ('{"team": {"chat": "ten per minute"}}', "QUOTA_TIERS.team.chat is not a rate limit"),
        ('{"team": {"vision": 5}}', "QUOTA_TIERS.team.vision is not a rate limit"),
        ('{"team": {"max_concurrent": 0}}', "QUOTA_TIERS.team.max_concurrent must be a whole number"),
        ('{"team": {"max_concurrent": true}}', "QUOTA_TIERS.team.max_concurrent must be a whole number"),
        ('{"team": {"daily_budget_usd": -1}}', "QUOTA_TIERS.team.daily_budget_usd must be a number"),
        ('{"team": {"daily_budget_usd": "5"}}', "QUOTA_TIERS.team.daily_budget_usd must be a number"),
    ],
)
def test_invalid_tiers_refuse_to_start_naming_the_key(raw, message):
    with pytest.raises(ConfigError) as caught:
        Config(environ={"GATEWAY_ENV": "development", "QUOTA_TIERS": raw}).validate()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "RATELIMIT_CHAT",
        "RATELIMIT_STREAMING",
        "RATELIMIT_VISION",
        "RATELIMIT_AUDIO",
        "RATELIMIT_FUNCTION_CALLING",
        "RATELIMIT_EMBEDDINGS",
    ],
)
def test_a_bad_rate_limit_refuses_to_start_naming_it(name):
    with pytest.raises(ConfigError, match=f"{name} is not a rate limit such as '30/minute': 'ten per minute'"):
        Config(environ={"GATEWAY_ENV": "development", name: "ten per minute"}).validate()


def test_tiers_from_the_environment_are_parsed():
    cfg = Config(environ={"GATEWAY_ENV": "development", "QUOTA_TIERS": '{"team": {"chat": "300/minute"}}'}).validate()
    assert cfg.QUOTA_TIERS == {"team": {"chat": "300/minute"}}
    assert cfg.QUOTA_TIER_CLAIM == "tier" and cfg.ADMIN_ROLE == "gateway-admin"
    assert cfg.RATELIMIT_EMBEDDINGS == "60/minute"
    assert Config(environ={"GATEWAY_ENV": "development"}).validate().QUOTA_TIERS == {}
