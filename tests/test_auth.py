"""Authentication as API.md says: one algorithm, exp and sub required, every failure a 401 envelope."""

import base64
import datetime
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.config import ConfigError, TestConfig
from tests.conftest import assert_error, make_app

URL = "/api/v2/openrouter/_test/quota"
SECRET = TestConfig().JWT_SECRET_KEY
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def call(client, token):
    return client.post(URL, headers={"Authorization": f"Bearer {token}"})


def claims(**overrides):
    now = int(time.time())
    base = {"sub": "alice", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs(payload, key=SECRET, alg="HS256"):
    return pyjwt.encode(payload, key, algorithm=alg)


def forged_hs256(payload, key):
    """An HS256 token keyed with arbitrary bytes (PyJWT itself refuses to sign with a PEM key)."""

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(payload).encode())
    signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def test_plain_standard_token_from_another_issuer_is_accepted(client):
    # No library-specific claims (type, fresh, jti): just sub and exp.
    response = call(client, hs({"sub": "bob", "exp": int(time.time()) + 60}))
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "Missing or malformed Authorization header"),
        ({"Authorization": "Token abc"}, "Missing or malformed Authorization header"),
        ({"Authorization": "Bearer"}, "Missing or malformed Authorization header"),
        ({"Authorization": "Bearer not.a.jwt"}, "Token is malformed"),
        ({"Authorization": "Bearer abc"}, "Token is malformed"),
    ],
)
def test_missing_or_malformed_header(client, headers, message):
    assert_error(client.post(URL, headers=headers), 401, "authentication_error", message)


@pytest.mark.parametrize(
    "token, message",
    [
        (hs(claims(exp=int(time.time()) - 120)), "Token has expired"),
        (hs(claims(nbf=int(time.time()) + 600)), "Token is not yet valid"),
        (hs(claims(), key="another-secret-that-is-long-enough-000000"), "Token signature is invalid"),
        (hs(claims(), alg="HS512"), "Token algorithm is not accepted"),
        (pyjwt.encode(claims(), None, algorithm="none"), "Token algorithm is not accepted"),
        (hs(claims(exp=None)), "Token has no 'exp' claim"),
        (hs(claims(sub=None)), "Token has no 'sub' claim"),
        (hs(claims(sub=42)), "Token 'sub' claim must be a string"),
    ],
)
def test_bad_tokens(client, token, message):
    assert_error(call(client, token), 401, "authentication_error", message)


def test_leeway_allows_small_clock_skew(client):
    assert call(client, hs(claims(exp=int(time.time()) - 10))).status_code == 200
    assert call(client, hs(claims(nbf=int(time.time()) + 10))).status_code == 200


def test_audience_and_issuer_enforced_when_configured():
    client = make_app(JWT_AUDIENCE="gateway", JWT_ISSUER="https://idp.example").test_client()
    good = claims(aud="gateway", iss="https://idp.example")
    assert call(client, hs(good)).status_code == 200
    assert_error(call(client, hs({**good, "aud": "other"})), 401, "authentication_error", "audience")
    assert_error(call(client, hs({**good, "iss": "https://evil"})), 401, "authentication_error", "issuer")
    assert_error(call(client, hs(claims(iss="https://idp.example"))), 401, "authentication_error")


def _pem_pair(private_key):
    private = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.mark.parametrize(
    "make_key, alg",
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_public_key_setup_picks_algorithm_from_key(make_key, alg):
    private, public = _pem_pair(make_key())
    app = make_app(JWT_SECRET_KEY=None, JWT_PUBLIC_KEY=public)
    assert app.config["JWT_DECODE_ALGORITHMS"] == [alg]
    client = app.test_client()
    assert call(client, pyjwt.encode(claims(), private, algorithm=alg)).status_code == 200
    # The classic confusion attack: an HS256 token "signed" with the public key as the secret.
    assert_error(call(client, forged_hs256(claims(), public)), 401, "authentication_error", "algorithm")
    other, _ = _pem_pair(make_key())
    assert_error(call(client, pyjwt.encode(claims(), other, algorithm=alg)), 401, "authentication_error")


def test_production_refuses_missing_or_short_secret():
    with pytest.raises(ConfigError, match="must be set in production"):
        make_app(GATEWAY_ENV="production", JWT_SECRET_KEY=None)
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        make_app(GATEWAY_ENV="production", JWT_SECRET_KEY="short")
    with pytest.raises(ConfigError, match="does not fit"):
        make_app(JWT_ALGORITHM="RS256")
    assert make_app(GATEWAY_ENV="development", JWT_SECRET_KEY=None).config["JWT_SECRET_KEY"]


def test_verified_token_cache_still_enforces_expiry(client, monkeypatch):
    from webapp import auth

    now = time.time()
    token = hs({"sub": "carol", "exp": int(now) + 60})
    assert call(client, token).status_code == 200
    assert call(client, token).status_code == 200  # served from the cache of verified tokens
    later = now + 60 + 31  # past exp + leeway
    monkeypatch.setattr(auth.time, "time", lambda: later)
    monkeypatch.setattr(pyjwt.api_jwt, "datetime", frozen_datetime(later))
    assert_error(call(client, token), 401, "authentication_error", "Token has expired")


def frozen_datetime(timestamp):
    """A datetime class whose now() is `timestamp` (what PyJWT reads the clock with)."""

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(timestamp, tz)

    return Frozen


def test_cache_is_keyed_by_the_whole_token(client):
    good = hs({"sub": "dave", "exp": int(time.time()) + 60})
    assert call(client, good).status_code == 200
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert_error(call(client, tampered), 401, "authentication_error")


def test_empty_sub_is_refused(client):
    assert_error(call(client, hs(claims(sub=""))), 401, "authentication_error", "must not be empty")


def test_refresh_token_gets_a_clear_message(client):
    assert_error(call(client, hs(claims(type="refresh"))), 401, "authentication_error", "refresh token")


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_numeric_string_times_are_refused_not_cached(client, name):
    # PyJWT accepts "1700000000"; the verified-token cache compared it with a number and answered 500 next time.
    now = int(time.time())
    values = {"exp": now + 600, "nbf": now - 10, "iat": now - 10}
    token = hs(claims(**{name: str(values[name])}))
    for _ in range(2):
        assert_error(call(client, token), 401, "authentication_error", f"'{name}' claim must be a number")


LIBRARY_ROUTE = "/api/v2/openrouter/_test/jwt-required"


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "Missing or malformed Authorization header"),  # unauthorized loader
        ({"Authorization": "Bearer not.a.jwt"}, "Token is invalid"),  # invalid token loader
        ({"Authorization": f"Bearer {hs(claims(exp=int(time.time()) - 120))}"}, "Token has expired"),
        ({"Authorization": f"Bearer {hs(claims(exp=None))}"}, "Token has no 'exp' claim"),  # verification failed
        ({"Authorization": f"Bearer {hs(claims(type='refresh'))}"}, "Token is invalid"),  # wrong token type
        ({"Authorization": f"Bearer {hs(claims(), key='another-secret-that-is-long-enough-000000')}"}, "invalid"),
    ],
)
def test_library_decorator_answers_our_401(client, headers, message):
    assert_error(client.get(LIBRARY_ROUTE, headers=headers), 401, "authentication_error", message)


def test_library_decorator_lets_good_tokens_through(client):
    response = client.get(LIBRARY_ROUTE, headers={"Authorization": f"Bearer {hs(claims())}"})
    assert response.status_code == 200 and response.get_json() == {"sub": "alice"}


def test_library_needs_fresh_answers_our_401(client):
    response = client.get("/api/v2/openrouter/_test/jwt-fresh", headers={"Authorization": f"Bearer {hs(claims())}"})
    assert_error(response, 401, "authentication_error", "A fresh token is required")


@pytest.mark.parametrize(
    "loader, message",
    [
        ("_revoked_token_callback", "Token has been revoked"),
        ("_user_lookup_error_callback", "Token names an unknown user"),
        ("_needs_fresh_token_callback", "A fresh token is required"),
        ("_expired_token_callback", "Token has expired"),
        ("_token_verification_failed_callback", "Token has no 'exp' claim"),
    ],
)
def test_every_header_and_payload_loader_renders_our_envelope(app, loader, message):
    # The revoked and user-lookup paths need a blocklist or user loader the gateway does not use; their
    # loaders are still ours, so a route that adds one gets the same envelope.
    from flask import g

    from webapp.extensions import jwt

    with app.test_request_context():
        g.request_id = "req-1"
        response = getattr(jwt, loader)({}, {})
        body = response.get_json()
    assert response.status_code == 401 and response.mimetype == "application/json"
    assert body == {"error": {"code": 401, "type": "authentication_error", "message": message, "request_id": "req-1"}}
