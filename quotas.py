"""Per-user quotas: flask-limiter buckets per endpoint type and the concurrency cap."""

import logging
import math
import time
from datetime import UTC, datetime, timedelta
from functools import wraps

from flask import after_this_request, current_app, g

from errors import RateLimitError
from extensions import limiter
from schemas.common import wants_stream
from services.redis_errors import redis_errors

log = logging.getLogger("gateway.quotas")
SKIPPED = "skipped"  # no slot was taken: Redis was down and RATELIMIT_FAIL_OPEN let the call through


def _setting(name):
    return lambda: current_app.config[name]


def _chat_limit():
    return current_app.config["RATELIMIT_STREAMING" if wants_stream() else "RATELIMIT_CHAT"]


def _chat_bucket(endpoint):
    return "streaming" if wants_stream() else "chat"


# Chat completions draws on the chat bucket, or on the streaming one (shared with /chat/stream) when the body
# asks for a stream: one limit whose bucket is chosen per request, so only one is checked.
chat_quota = limiter.shared_limit(_chat_limit, scope=_chat_bucket)
streaming_quota = limiter.shared_limit(_setting("RATELIMIT_STREAMING"), scope="streaming")
vision_quota = limiter.shared_limit(_setting("RATELIMIT_VISION"), scope="vision")
audio_quota = limiter.shared_limit(_setting("RATELIMIT_AUDIO"), scope="audio")
tools_quota = limiter.shared_limit(_setting("RATELIMIT_FUNCTION_CALLING"), scope="function_calling")
embeddings_quota = limiter.shared_limit(_setting("RATELIMIT_EMBEDDINGS"), scope="embeddings")


def concurrency_slot(view):
    """Check the daily budget, then hold one of the caller's MAX_CONCURRENT_PER_USER slots until it closes."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        cfg = current_app.config
        if cfg["USER_DAILY_BUDGET_USD"] is not None:
            _check_budget(cfg["USER_DAILY_BUDGET_USD"], cfg["RATELIMIT_FAIL_OPEN"])
        slots, user = current_app.extensions["concurrency"], g.user
        token = _acquire(slots, user, cfg)
        if token is None:
            raise RateLimitError(
                f"Too many calls in flight: at most {cfg['MAX_CONCURRENT_PER_USER']} at once per user",
                retry_after=1,
            )

        @after_this_request
        def release_on_close(response):
            response.call_on_close(lambda: _release(slots, user, token))
            return response

        return view(*args, **kwargs)

    return wrapper


def _check_budget(budget, fail_open):
    usage = current_app.extensions["usage"]
    try:
        spent = usage.spent_today(g.user)
    except redis_errors():
        if fail_open:
            log.warning("daily budget not checked: Redis unavailable (RATELIMIT_FAIL_OPEN)")
            return
        raise
    if spent >= budget:
        now = usage.clock()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        raise RateLimitError(
            f"Daily budget of ${budget:g} reached; it resets at 00:00 UTC",
            retry_after=(midnight - now).total_seconds(),
        )


def _acquire(slots, user, cfg):
    try:
        return slots.acquire(user, cfg["MAX_CONCURRENT_PER_USER"])
    except redis_errors():
        if cfg["RATELIMIT_FAIL_OPEN"]:
            log.warning("concurrency cap skipped: Redis unavailable (RATELIMIT_FAIL_OPEN)")
            return SKIPPED
        raise


def _release(slots, user, token):
    if token is SKIPPED:
        return
    try:
        slots.release(user, token)
    except redis_errors():
        log.warning("could not release a concurrency slot: Redis unavailable; it expires by itself")


def rate_limit_headers(response):
    """X-RateLimit-* on rate-limited routes, from the bucket flask-limiter checked for this request."""
    try:
        current = limiter.current_limit if current_app.config["RATELIMIT_ENABLED"] else None
        if current is not None:
            reset_at, remaining = current.reset_at, current.remaining
    except redis_errors():
        return response  # the quota was decided (or skipped, fail-open); only the headers are lost
    if current is not None:
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(int(reset_at))
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
