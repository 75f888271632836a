"""Per-user quotas: flask-limiter buckets per endpoint type and the concurrency cap."""

import math
import time
from functools import wraps

from flask import after_this_request, current_app, g

from errors import RateLimitError
from extensions import limiter
from schemas.common import wants_stream


def _setting(name):
    return lambda: current_app.config[name]


def _not_streaming():
    return not wants_stream()


# Chat completions draws on the chat bucket, or the streaming one when the body asks for a stream.
chat_quota = limiter.shared_limit(_setting("RATELIMIT_CHAT"), scope="chat", exempt_when=wants_stream)
chat_stream_quota = limiter.shared_limit(
    _setting("RATELIMIT_STREAMING"), scope="streaming", exempt_when=_not_streaming
)
streaming_quota = limiter.shared_limit(_setting("RATELIMIT_STREAMING"), scope="streaming")
vision_quota = limiter.shared_limit(_setting("RATELIMIT_VISION"), scope="vision")
audio_quota = limiter.shared_limit(_setting("RATELIMIT_AUDIO"), scope="audio")
tools_quota = limiter.shared_limit(_setting("RATELIMIT_FUNCTION_CALLING"), scope="function_calling")


def concurrency_slot(view):
    """Hold one of the caller's MAX_CONCURRENT_PER_USER slots until the response (or stream) closes."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        cfg = current_app.config
        if not cfg["RATELIMIT_ENABLED"]:
            return view(*args, **kwargs)
        counter, user = current_app.extensions["concurrency"], g.user
        if not counter.acquire(user, cfg["MAX_CONCURRENT_PER_USER"]):
            raise RateLimitError(
                f"Too many calls in flight: at most {cfg['MAX_CONCURRENT_PER_USER']} at once per user",
                retry_after=1,
            )

        @after_this_request
        def release_on_close(response):
            response.call_on_close(lambda: counter.release(user))
            return response

        return view(*args, **kwargs)

    return wrapper


def rate_limit_headers(response):
    """X-RateLimit-* on rate-limited routes, from the bucket flask-limiter checked for this request."""
    current = limiter.current_limit if current_app.config["RATELIMIT_ENABLED"] else None
    if current is not None:
        reset_at = current.reset_at
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(current.remaining)
        response.headers["X-RateLimit-Reset"] = str(int(reset_at))
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
