"""The error tree's own guarantees: retry advice by class, Redis failures translated where they happen."""

import pytest
import redis

from core.errors import (
    ApiError,
    InvalidRequestError,
    RateLimitError,
    RedisUnavailableError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from services.redis_state import Breaker, make_redis, translated
from tests.servers import free_port


@pytest.mark.parametrize(
    "error, advice",
    [
        (UpstreamError("failed upstream"), "false"),
        (UpstreamTimeoutError("silent upstream"), "false"),
        (UpstreamUnreachableError("no connection"), None),
        (RateLimitError("slow down"), None),
        (ServiceUnavailableError("later"), None),
        (InvalidRequestError("bad"), None),
        (ApiError("crash"), None),
    ],
)
def test_retry_advice_is_the_class_s(error, advice):
    assert error.headers.get("x-should-retry") == advice
    assert error.should_retry is (False if advice else None)


def test_retry_advice_keeps_other_headers():
    error = UpstreamError("x", headers={"Retry-After": "3"})
    assert error.headers == {"Retry-After": "3", "x-should-retry": "false"}


def test_a_redis_that_is_not_there_is_our_503():
    client = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(RedisUnavailableError) as failed:
        client.ping()
    assert isinstance(failed.value, ServiceUnavailableError)
    assert failed.value.status == 503 and failed.value.type == "service_unavailable"
    assert isinstance(failed.value.__cause__, redis.ConnectionError)
    with pytest.raises(RedisUnavailableError):  # the breaker is open now: at once, still our error
        client.set("k", "v")


def test_noscript_passes_through_for_redis_py_to_load_the_script():
    def missing():
        raise redis.exceptions.NoScriptError("NOSCRIPT")

    with pytest.raises(redis.exceptions.NoScriptError):
        translated(Breaker(), missing)
