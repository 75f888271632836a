"""Key sets the identity provider should never serve, and settings that refuse to start."""

import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.config import ConfigError
from tests.conftest import assert_error, make_app
from tests.servers import serve_app

QUOTA = "/api/v2/openrouter/_test/quota"
HEALTH = "/api/v2/openrouter/health"
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_JWK = {**json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(PRIVATE.public_key())), "kid": "k1"}


def document_server(routes):
    """A WSGI app answering `routes[path] = (status, headers, body)`, counting hits per path."""
    hits = {}

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        hits[path] = hits.get(path, 0) + 1
        status, headers, body = routes.get(path, ("404 Not Found", [], b"{}"))
        start_response(status, headers)
        return [body]

    return app, hits


def token(kid="k1", **claims):
    now = int(time.time())
    return pyjwt.encode({"sub": "alice", "exp": now + 300, **claims}, PRIVATE, algorithm="RS256", headers={"kid": kid})


def call(client, bearer):
    return client.post(QUOTA, headers={"Authorization": f"Bearer {bearer}"})


JSON = [("Content-Type", "application/json")]


@pytest.mark.parametrize(
    "route, detail",
    [
        (("200 OK", [("Content-Type", "text/html")], b"<html>login</html>"), "did not answer JSON"),
        (("200 OK", JSON, json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}).encode()), "usable"),
        (("200 OK", JSON, json.dumps({"keys": [{**PUBLIC_JWK, "kty": "EC"}]}).encode()), "usable"),
        (("200 OK", JSON, json.dumps({"keys": "nope"}).encode()), "no 'keys' list"),
        (("302 Found", [("Location", "/elsewhere")], b""), "redirects are not followed"),
        (("500 Internal Server Error", JSON, b"{}"), "answered 500"),
    ],
)
def test_a_bad_key_set_makes_tokens_401_and_health_degraded(route, detail):
    server, hits = document_server(
        {"/jwks": route, "/elsewhere": ("200 OK", JSON, json.dumps({"keys": [PUBLIC_JWK]}).encode())}
    )
    with serve_app(server) as base:
        app = make_app(JWT_SECRET_KEY=None, JWT_JWKS_URL=base + "/jwks")
        client = app.test_client()
        assert_error(call(client, token()), 401, "authentication_error", detail)
        health = client.get(HEALTH).get_json()
    assert health["status"] == "degraded"
    assert detail in health["checks"]["identity_provider"]["detail"]
    assert hits.get("/elsewhere") is None  # a redirect is never followed


def test_jwks_url_serves_tokens_without_discovery():
    server, hits = document_server({"/keys": ("200 OK", JSON, json.dumps({"keys": [PUBLIC_JWK]}).encode())})
    with serve_app(server) as base:
        app = make_app(JWT_SECRET_KEY=None, JWT_JWKS_URL=base + "/keys", GATEWAY_ENV="production")
        client = app.test_client()
        assert call(client, token()).status_code == 200
        assert call(client, token(sub="bob")).status_code == 200
    assert hits == {"/keys": 1}


def test_an_unreachable_provider_is_401_naming_why():
    app = make_app(JWT_SECRET_KEY=None, JWT_JWKS_URL="http://127.0.0.1:9/jwks")
    error = assert_error(call(app.test_client(), token()), 401, "authentication_error", "unavailable")
    assert "unreachable" in error["message"]


def test_discovery_must_name_the_configured_issuer():
    server, _ = document_server(
        {"/.well-known/openid-configuration": ("200 OK", JSON, json.dumps({"issuer": "https://other"}).encode())}
    )
    with serve_app(server) as base:
        app = make_app(JWT_SECRET_KEY=None, JWT_OIDC_ISSUER=base)
        assert_error(call(app.test_client(), token(iss=base)), 401, "authentication_error", "does not name issuer")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"JWT_JWKS_URL": "https://idp.example/keys"}, "exclude each other"),
        ({"JWT_SECRET_KEY": None, "JWT_JWKS_URL": "ftp://idp.example/keys"}, "must be an http"),
        ({"JWT_SECRET_KEY": None, "JWT_JWKS_URL": "https://idp/keys", "JWT_ALGORITHM": "HS256"}, "cannot be used"),
        ({"JWT_SECRET_KEY": None, "JWT_OIDC_ISSUER": "https://a", "JWT_ISSUER": "https://b"}, "differs"),
        ({"JWT_SECRET_KEY": None, "JWT_JWKS_URL": "https://idp/keys", "JWT_JWKS_CACHE_TTL": 0}, "positive"),
    ],
)
def test_settings_that_refuse_to_start(settings, message):
    with pytest.raises(ConfigError, match=message):
        make_app(**settings)


def test_apps_of_one_process_keep_their_own_keys():
    # flask-jwt-extended's manager is one per process; its key loader must still find each app's key.
    server, _ = document_server({"/keys": ("200 OK", JSON, json.dumps({"keys": [PUBLIC_JWK]}).encode())})
    with serve_app(server) as base:
        static = make_app()
        provider = make_app(JWT_SECRET_KEY=None, JWT_JWKS_URL=base + "/keys")
        hs = pyjwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, static.config["JWT_SECRET_KEY"], "HS256")
        assert call(static.test_client(), hs).status_code == 200
        assert call(provider.test_client(), token()).status_code == 200
        assert_error(call(provider.test_client(), hs), 401, "authentication_error", "no 'kid'")
