"""The OpenRouter client on its own: GETs retried with backoff, POSTs never re-sent, failures mapped."""

import pytest

from errors import ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from tests.conftest import MOCK_KEY
from tests.servers import free_port
from upstream.client import OpenRouterClient


def client_for(url, key=MOCK_KEY, timeout_ms=120000):
    return OpenRouterClient(
        {
            "OPENROUTER_BASE_URL": url,
            "OPENROUTER_API_KEY": key,
            "OPENROUTER_CONNECT_TIMEOUT": 1000,
            "OPENROUTER_TIMEOUT": timeout_ms,
            "OPENROUTER_SITE_URL": None,
            "OPENROUTER_SITE_NAME": None,
        }
    )


def test_get_retries_5xx_then_gives_up(upstream):
    upstream.configure(models_fault="500")
    with pytest.raises(UpstreamError):
        client_for(upstream.url).get_json("/models")
    assert upstream.hits("/models") == 3


def test_get_succeeds_and_parses(upstream):
    body = client_for(upstream.url).get_json("/models")
    assert {"openai/gpt-4o", "anthropic/claude-sonnet-4.5"} <= {m["id"] for m in body["data"]}
    assert upstream.hits("/models") == 1


def test_post_is_never_resent(upstream):
    with pytest.raises(UpstreamError) as failed:
        client_for(upstream.url).post_chat(b'{"messages":[{"role":"user","content":"x [[fault:500]]"}]}')
    assert failed.value.headers == {"x-should-retry": "false"}
    assert upstream.hits("/chat/completions") == 1


def test_unreachable_and_silent_and_no_key(upstream):
    with pytest.raises(UpstreamError, match="unreachable"):
        client_for(f"http://127.0.0.1:{free_port()}/api/v1").post_chat(b"{}")
    with pytest.raises(UpstreamTimeoutError):
        client_for(upstream.url, timeout_ms=200).post_chat(
            b'{"messages":[{"role":"user","content":"x [[fault:silence]]"}]}'
        )
    with pytest.raises(ServiceUnavailableError):
        client_for(upstream.url, key=None).post_chat(b"{}")
