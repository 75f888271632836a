"""Fixtures: the app built with TestConfig, a client, tokens, and the OpenRouter stand-in."""

import pytest

from app import create_app
from cli import mint_token
from config import TestConfig

MOCK_KEY = "sk-or-v1-" + "c0ffee" * 10 + "abcd"


@pytest.fixture(scope="session")
def mock_openrouter():
    """One stand-in for the whole session; each test resets its records."""
    from openrouter_mock import MockOpenRouter

    with MockOpenRouter(api_key=MOCK_KEY) as mock:
        yield mock


@pytest.fixture
def upstream(mock_openrouter):
    mock_openrouter.reset()
    return mock_openrouter


def make_app(**overrides):
    """An app with TestConfig and the given overrides."""
    return create_app(TestConfig(**overrides))


@pytest.fixture
def app():
    """The gateway with no reachable upstream (tests that need OpenRouter use `gateway`)."""
    return make_app()


@pytest.fixture
def gateway(upstream):
    """The gateway pointed at the stand-in."""
    return make_app(OPENROUTER_BASE_URL=upstream.url, OPENROUTER_API_KEY=MOCK_KEY)


@pytest.fixture
def client(app):
    return app.test_client()


def token_for(app, sub="alice", ttl=3600, **extra):
    """A token signed for `app`."""
    return mint_token(app.config, sub, ttl, extra=extra)


@pytest.fixture
def token(app):
    return token_for(app)


@pytest.fixture
def auth_headers(token):
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status, error_type, message=None):
    """The exact envelope of API.md, with a request id; returns the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == status
    assert error["type"] == error_type
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    if message is not None:
        assert message in error["message"], error["message"]
    return error
