"""Tokens from a real OpenID provider (oidc-provider on node): discovery, JWKS, rotation, flood, outage, attacks."""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import time
import uuid

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import TickClock, assert_error, make_app
from tests.oidc import private_jwk, run_provider
from tests.servers import serve_app
from webapp.composition import services_of

QUOTA = "/api/v2/openrouter/_test/quota"
HEALTH = "/api/v2/openrouter/health"
TIERS = {"team": {"chat": "5/minute"}, "intern": {"chat": "2/minute"}}


@pytest.fixture
def key_one():
    return private_jwk("key-one")


@pytest.fixture
def provider(tmp_path, key_one):
    with run_provider(tmp_path, [key_one[0]]) as running:
        yield running


def gateway_for(provider, **overrides):
    """The gateway trusting `provider` by OIDC discovery, with a clock the test moves."""
    settings = {"JWT_SECRET_KEY": None, "JWT_OIDC_ISSUER": provider.issuer, "QUOTA_TIERS": TIERS, **overrides}
    app = make_app(**settings)
    clock = services_of(app).jwks.clock = TickClock()
    return app, clock


def call(client, token, url=QUOTA, **headers):
    return client.post(url, headers={"Authorization": f"Bearer {token}", **headers})


def signed(private_key, claims, **header):
    """A token signed by `private_key` (RS256 unless the header says otherwise)."""
    alg = header.pop("alg", "RS256")
    return pyjwt.encode(claims, private_key, algorithm=alg, headers=header)


def claims_for(provider, sub="mallory", **extra):
    now = int(time.time())
    return {"sub": sub, "iss": provider.issuer, "iat": now, "exp": now + 300, **extra}


def test_provider_tokens_carry_identity_tier_and_limits(provider):
    app, _ = gateway_for(provider)
    client = app.test_client()
    team, intern = provider.token("team-app"), provider.token("intern-app")
    assert pyjwt.get_unverified_header(team)["kid"] == "key-one"
    response = call(client, team)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["X-RateLimit-Limit"] == "5"  # the team tier's chat limit
    assert call(client, intern).headers["X-RateLimit-Limit"] == "2"
    call(client, intern)
    assert_error(call(client, intern), 429, "rate_limit_error", "2 per 1 minute")
    assert provider.stats() == {"jwks": 1, "discovery": 1}  # discovery once, keys once, then cached
    health = client.get(HEALTH).get_json()
    assert health["checks"]["identity_provider"]["status"] == "ok"
    assert health["checks"]["identity_provider"]["keys"] == 1


def test_issuer_is_enforced(provider, key_one):
    app, _ = gateway_for(provider)
    client = app.test_client()
    forged = signed(key_one[1], claims_for(provider, iss="https://elsewhere.example"), kid="key-one")
    assert_error(call(client, forged), 401, "authentication_error", "issuer")
    assert call(client, signed(key_one[1], claims_for(provider), kid="key-one")).status_code == 200


def test_rotation_is_picked_up_without_restart(provider, key_one):
    app, clock = gateway_for(provider, QUOTA_TIERS={})
    client = app.test_client()
    old_seen, old_unseen = provider.token(), provider.token()
    assert call(client, old_seen).status_code == 200
    key_two = private_jwk("key-two")
    provider.restart([key_two[0], key_one[0]])  # the new key signs; the old one is still published
    new = provider.token()
    assert pyjwt.get_unverified_header(new)["kid"] == "key-two"
    clock.now += 31  # past the re-fetch cooldown (the first fetch was just now)
    assert call(client, new).status_code == 200
    assert call(client, old_seen).status_code == 200
    assert call(client, old_unseen).status_code == 200  # old tokens keep working while their key is published
    assert provider.stats()["jwks"] == 1
    provider.restart([key_two[0]])  # the old key is retired
    retired = signed(key_one[1], claims_for(provider), kid="key-one")
    assert call(client, retired).status_code == 200  # until the cached set is JWT_JWKS_CACHE_TTL old
    clock.now += 301
    assert call(client, old_seen).status_code == 200  # a cached token, served at once; the stale set refreshes behind
    assert services_of(app).jwks.wait_idle()
    assert provider.stats()["jwks"] == 1
    assert_error(call(client, retired), 401, "authentication_error", "signing key is unknown")
    # A retired key takes its tokens along, even those verified before (a compromised key stops at once).
    assert_error(call(client, old_seen), 401, "authentication_error", "signing key is unknown")
    assert call(client, new).status_code == 200


def test_a_flood_of_unknown_kids_costs_one_fetch(provider):
    app, clock = gateway_for(provider)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = [signed(stranger, claims_for(provider), kid=uuid.uuid4().hex) for _ in range(200)]
    with serve_app(app) as base:
        good = provider.token()
        assert requests.post(base + QUOTA, headers={"Authorization": f"Bearer {good}"}, timeout=10).status_code == 200
        before = provider.stats()["jwks"]
        clock.now += 31  # the cooldown has passed: the flood may cause one fetch, and no more

        def attack(token):
            response = requests.post(base + QUOTA, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            return response.status_code, response.json()["error"]["type"]

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(attack, tokens))
        elapsed = time.monotonic() - started
    assert answers == [(401, "authentication_error")] * 200
    assert provider.stats()["jwks"] - before == 1
    assert elapsed < 30  # generous: the point is that 200 tokens came within seconds


def test_provider_down_keeps_last_good_keys_and_health_degraded(provider):
    app, clock = gateway_for(provider)
    client = app.test_client()
    seen, unseen = provider.token(), provider.token("intern-app")
    assert call(client, seen).status_code == 200
    provider.stop()
    clock.now += 31
    assert call(client, seen).status_code == 200
    assert call(client, unseen).status_code == 200  # verified with the cached key, not the cached token
    unknown = signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), claims_for(provider), kid="new")
    assert_error(call(client, unknown), 401, "authentication_error", "signing key is unknown")
    body = client.get(HEALTH).get_json()
    assert body["status"] == "degraded"
    check = body["checks"]["identity_provider"]
    assert check["status"] == "degraded" and check["keys"] == 1
    assert "unreachable" in check["detail"]
    assert call(client, unseen).status_code == 200


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, claims, signature=b""):
    """A token assembled by hand (PyJWT refuses to sign some of these)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return signing_input, f"{signing_input}.{b64(signature)}"


def public_pem(private_key):
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_hostile_tokens_are_401(provider, key_one):
    app, _ = gateway_for(provider)
    client = app.test_client()
    claims = claims_for(provider)
    # Key confusion: HS256 "signed" with the provider's RSA public key as the HMAC secret.
    signing_input, _ = hand_made({"alg": "HS256", "kid": "key-one"}, claims)
    mac = hmac.new(public_pem(key_one[1]).encode(), signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{b64(mac)}"
    _, unsigned = hand_made({"alg": "none", "kid": "key-one"}, claims)
    no_kid = signed(key_one[1], claims)
    wrong_family = signed(key_one[1], claims, kid="key-one", alg="PS256")  # the key says RS256 only
    for token, message in [
        (confused, "algorithm"),
        (unsigned, "algorithm"),
        (no_kid, "no 'kid' header"),
        (wrong_family, "does not fit its key"),
    ]:
        assert_error(call(client, token), 401, "authentication_error", message)


def test_x5u_and_jku_headers_are_ignored(provider, key_one):
    attacker_hits = []
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))

    def attacker_jwks(environ, start_response):
        attacker_hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"keys": [{**attacker_jwk, "kid": "evil"}]}).encode()]

    app, _ = gateway_for(provider)
    client = app.test_client()
    with serve_app(attacker_jwks) as evil:
        for header in ({"jku": evil + "/jwks"}, {"x5u": evil + "/cert.pem"}):
            forged = signed(attacker, claims_for(provider), kid="evil", **header)
            assert_error(call(client, forged), 401, "authentication_error", "signing key is unknown")
            genuine = signed(key_one[1], claims_for(provider, sub="bob"), kid="key-one", **header)
            assert call(client, genuine).status_code == 200
    assert attacker_hits == []


def test_ec_keys_from_the_provider(tmp_path):
    ec_key = private_jwk("ec-one", kind="EC")
    with run_provider(tmp_path, [ec_key[0]], env={"TOKEN_ALG": "ES256"}) as provider:
        app, _ = gateway_for(provider)
        client = app.test_client()
        token = provider.token()
        assert pyjwt.get_unverified_header(token)["alg"] == "ES256"
        assert call(client, token).status_code == 200
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        as_rs = signed(rsa_key, claims_for(provider), kid="ec-one")
        assert_error(call(client, as_rs), 401, "authentication_error", "does not fit its key")


def test_admin_role_from_the_provider(provider):
    app, _ = gateway_for(provider)
    client = app.test_client()
    admin, team = provider.token("admin-app"), provider.token("team-app")
    response = client.get("/api/v2/openrouter/admin/usage", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200
    assert response.get_json()["object"] == "usage_summary"
    denied = client.get("/api/v2/openrouter/admin/usage", headers={"Authorization": f"Bearer {team}"})
    assert_error(denied, 403, "permission_error", "gateway-admin")


def test_a_gunicorn_worker_trusts_the_provider(provider, tmp_path, mock_openrouter):
    # The real server (gevent worker) configured from the environment, as a deployment would be.
    from tests.conftest import MOCK_KEY
    from tests.servers import run_gunicorn

    env = {
        "GATEWAY_ENV": "production",
        "JWT_SECRET_KEY": "",
        "JWT_OIDC_ISSUER": provider.issuer,
        "JWT_AUDIENCE": "urn:gateway",
        "QUOTA_TIERS": json.dumps(TIERS),
        "OPENROUTER_BASE_URL": mock_openrouter.url,
        "OPENROUTER_API_KEY": MOCK_KEY,
    }
    with run_gunicorn(env, log_path=tmp_path / "gunicorn.log") as (base, _):
        api = base + "/api/v2/openrouter"
        team = {"Authorization": f"Bearer {provider.token('team-app')}"}
        admin = {"Authorization": f"Bearer {provider.token('admin-app')}"}
        body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        chat = requests.post(api + "/chat/completions", json=body, headers=team, timeout=10)
        assert chat.status_code == 200, chat.text
        assert chat.headers["X-RateLimit-Limit"] == "5"
        assert requests.get(api + "/admin/usage", headers=team, timeout=10).status_code == 403
        summary = requests.get(api + "/admin/usage", headers=admin, timeout=10).json()
        assert [(row["user"], row["tier"]) for row in summary["users"]] == [("team-app", "team")]
        health = requests.get(api + "/health", timeout=10).json()
        assert health["checks"]["identity_provider"]["status"] == "ok"
        assert provider.stats() == {"jwks": 1, "discovery": 1}
