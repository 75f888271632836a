"""Per-user quotas: flask-limiter buckets per endpoint type and the concurrency cap."""

import inspect
import logging
import math
import time
from datetime import UTC, datetime, timedelta
from functools import wraps

from flask import Response, current_app, g

from core.errors import RateLimitError, RedisUnavailableError
from schemas.common import wants_stream
from webapp.composition import current_services
from webapp.extensions import limiter
from webapp.quota_state import admit_call, user_daily_budget, user_limits, user_max_concurrent

log = logging.getLogger("gateway.quotas")


def _rate(bucket):
    """flask-limiter's dynamic limit: the caller's tier decides, per request."""
    return lambda: user_limits().rates[bucket]


def _chat_limit():
    return user_limits().rates["streaming" if wants_stream() else "chat"]


def _chat_bucket(endpoint):
    return "streaming" if wants_stream() else "chat"


# Chat completions draws on the chat bucket, or on the streaming one (shared with /chat/stream) when the body
# asks for a stream: one limit whose bucket is chosen per request, so only one is checked.
chat_quota = limiter.shared_limit(_chat_limit, scope=_chat_bucket)
streaming_quota = limiter.shared_limit(_rate("streaming"), scope="streaming")
vision_quota = limiter.shared_limit(_rate("vision"), scope="vision")
audio_quota = limiter.shared_limit(_rate("audio"), scope="audio")
tools_quota = limiter.shared_limit(_rate("function_calling"), scope="function_calling")
embeddings_quota = limiter.shared_limit(_rate("embeddings"), scope="embeddings")


def checks_daily_budget(view):
    """Refuse the call (429 until midnight UTC) once the caller's daily budget is spent.

    Decided in the same admission as the concurrency slot (one Redis round trip), so it marks the view and
    goes with `holds_concurrency_slot`, which runs that admission.
    """
    view.checks_daily_budget = True
    return view


def holds_concurrency_slot(view):
    """Hold one of the caller's concurrency slots until the answer is ready (429 when all are in use).

    With Redis the admission is usually decided with the route's rate-limit hit (quota_state.py), in its round
    trip; otherwise here. The slot is given back, and the usage written, when the body is produced (a stream:
    before its last event), so a caller's next call never finds its own finished call still in flight.
    """

    @wraps(view)
    def wrapper(**kwargs):
        if "call_ticket" not in g and "call_refused" not in g:
            admit_call()
        if "call_refused" in g:
            raise _refusal(g.call_refused)
        ticket = g.call_ticket
        try:
            response = view(**kwargs) if kwargs else view()  # a plain call when it can (webapp/auth.py)
        except BaseException:
            ticket.settle()
            raise
        if not g.get("call_streamed") and not _streamed(response):
            ticket.settle()
        return response

    wrapper.holds_concurrency_slot = True
    return wrapper


def concurrency_slot(view):
    """Compatibility name for both (daily budget and slot), as views declared them before the split."""
    return checks_daily_budget(holds_concurrency_slot(view))


def _streamed(rv):
    """A body produced while it is sent (a generator): its slot is held until the response closes."""
    body = rv[0] if isinstance(rv, tuple) else rv
    return inspect.isgenerator(body) or (isinstance(body, Response) and body.is_streamed)


def _refusal(verdict):
    if verdict == "budget":
        budget = user_daily_budget()
        now = current_services().usage.clock()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        return RateLimitError(
            f"Daily budget of ${budget:g} reached; it resets at 00:00 UTC",
            retry_after=(midnight - now).total_seconds(),
        )
    return RateLimitError(
        f"Too many calls in flight: at most {user_max_concurrent()} at once per user",
        retry_after=1,
    )


def rate_limit_headers(response):
    """X-RateLimit-* on rate-limited routes, from the bucket flask-limiter checked for this request."""
    try:
        current = limiter.current_limit if current_app.config["RATELIMIT_ENABLED"] else None
        if current is not None:
            reset_at, remaining = current.reset_at, current.remaining
    except RedisUnavailableError:
        return response  # the quota was decided (or skipped, fail-open); only the headers are lost
    if current is not None:
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(int(reset_at))
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
