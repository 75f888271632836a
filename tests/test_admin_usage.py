"""Admins: any user's usage and every user's summary by cost, from the same store (memory or Redis)."""

from datetime import timedelta

import pytest

from tests.conftest import assert_error, token_for
from webapp.composition import services_of

API = "/api/v2/openrouter"
TIERS = {"team": {"chat": "300/minute", "daily_budget_usd": 5}, "intern": {"daily_budget_usd": 0.0001}}


def call(app, text, sub, **claims):
    """A real chat call through the stand-in upstream, as `sub` with these claims."""
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}]}
    headers = {"Authorization": f"Bearer {token_for(app, sub, **claims)}"}
    with app.test_client().post(API + "/chat/completions", json=body, headers=headers) as response:
        assert response.status_code == 200, response.get_data(as_text=True)


def get(app, path, sub="root", **claims):
    return app.test_client().get(API + path, headers={"Authorization": f"Bearer {token_for(app, sub, **claims)}"})


ADMIN = {"roles": ["gateway-admin"]}


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": ["reader", "gateway-admin"]},
        {"realm_access": {"roles": ["gateway-admin"]}},  # Keycloak
        {"scope": "openid gateway-admin"},
        {"scp": "gateway-admin"},
        {"scp": ["gateway-admin"]},  # Okta's list form
    ],
)
def test_admin_role_is_found_where_providers_put_it(usage_app, claims):
    build, _ = usage_app
    app = build()
    assert get(app, "/admin/usage", **claims).status_code == 200
    assert get(app, "/usage?user=bob", **claims).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"roles": "gateway-admin"},  # a string is not the roles list
        {"roles": ["gateway-admins"]},
        {"realm_access": ["gateway-admin"]},
        {"scope": "gateway-admin-ish"},
        {"resource_access": {"gateway": {"roles": ["gateway-admin"]}}},
    ],
)
def test_everyone_else_gets_403(usage_app, claims):
    build, _ = usage_app
    app = build()
    for path in ("/admin/usage", "/usage?user=bob"):
        assert_error(get(app, path, "alice", **claims), 403, "permission_error", "'gateway-admin' role")
    assert get(app, "/usage?user=alice", "alice", **claims).get_json()["user"] == "alice"  # one's own is fine


def test_admin_role_is_configurable(usage_app):
    build, _ = usage_app
    app = build(ADMIN_ROLE="ops")
    assert get(app, "/admin/usage", roles=["ops"]).status_code == 200
    assert_error(get(app, "/admin/usage", **ADMIN), 403, "permission_error", "'ops' role")


def test_admin_reads_another_users_report(usage_app):
    build, _ = usage_app
    app = build()
    call(app, "hello", sub="bob")
    body = get(app, "/usage?user=bob&days=2", **ADMIN).get_json()
    assert body["user"] == "bob" and body["days"] == 2 and body["totals"]["requests"] == 1


def test_summary_lists_every_user_by_cost(usage_app):
    build, clock = usage_app
    app = build(QUOTA_TIERS=TIERS, USER_DAILY_BUDGET_USD=2.0)
    store = services_of(app).usage
    store.record("carol", "openai/gpt-4o", {"cost": 0.5, "prompt_tokens": 10, "completion_tokens": 5})
    clock.now -= timedelta(days=3)
    store.record("dave", "openai/gpt-4o", {"cost": 9.0})  # three days ago: in a 7-day window, not in a 1-day one
    clock.now += timedelta(days=3)
    call(app, "hi", sub="bob", tier="team")  # a real call: its tier is recorded with it
    call(app, "hi", sub="erin", tier="intern")
    body = get(app, "/admin/usage", **ADMIN).get_json()
    assert set(body) == {"object", "days", "totals", "users"}
    assert body["object"] == "usage_summary" and body["days"] == 7
    users = {row["user"]: row for row in body["users"]}
    assert [row["user"] for row in body["users"]] == ["dave", "carol", "bob", "erin"]  # equal costs: by name
    costs = [row["totals"]["cost"] for row in body["users"]]
    assert costs == sorted(costs, reverse=True)
    assert users["carol"] == {
        "user": "carol",
        "tier": None,
        "totals": {"requests": 1, "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5},
        "budget_usd": 2.0,
        "budget_left_usd": 1.5,
    }
    assert users["dave"]["budget_left_usd"] == 2.0  # nothing spent today
    assert users["bob"]["tier"] == "team" and users["bob"]["budget_usd"] == 5
    assert users["erin"]["tier"] == "intern" and users["erin"]["budget_usd"] == 0.0001
    assert users["erin"]["budget_left_usd"] == pytest.approx(0.0001 - users["erin"]["totals"]["cost"])
    assert body["totals"]["requests"] == 4
    assert body["totals"]["cost"] == pytest.approx(sum(costs))
    one_day = get(app, "/admin/usage?days=1&limit=2", **ADMIN).get_json()
    assert [row["user"] for row in one_day["users"]] == ["carol", "bob"]
    assert one_day["totals"]["requests"] == 3  # totals cover every user, not only the listed ones


def test_summary_without_budgets(usage_app):
    build, _ = usage_app
    app = build()
    services_of(app).usage.record("zoe", "m", {"cost": 0.25})
    row = get(app, "/admin/usage", **ADMIN).get_json()["users"][0]
    assert row["user"] == "zoe" and row["budget_usd"] is None and row["budget_left_usd"] is None


@pytest.mark.parametrize("query", ["days=0", "days=91", "limit=0", "limit=1001", "limit=x"])
def test_bad_summary_queries_are_400(usage_app, query):
    build, _ = usage_app
    app = build()
    error = assert_error(get(app, f"/admin/usage?{query}", **ADMIN), 400, "invalid_request_error")
    assert list(error["details"]) == [query.split("=")[0]]


@pytest.mark.parametrize("path", ["/chat/stream", "/responses", "/messages"])
def test_a_user_who_only_streams_is_listed_with_their_tier(usage_app, path):
    build, _ = usage_app
    app = build(QUOTA_TIERS=TIERS)
    headers = {"Authorization": f"Bearer {token_for(app, 'streamer', tier='team')}"}
    body = {"model": "openai/gpt-4o", "stream": True, "max_tokens": 16}
    if path == "/responses":
        body["input"] = "hello"
    else:
        body["messages"] = [{"role": "user", "content": "hello"}]
    with app.test_client().post(API + path, json=body, headers=headers) as response:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_data().strip()  # the whole stream, read to its end
    users = {row["user"]: row for row in get(app, "/admin/usage", **ADMIN).get_json()["users"]}
    assert users["streamer"]["tier"] == "team"
    assert users["streamer"]["totals"]["requests"] == 1
