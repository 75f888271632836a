"""The one handler that renders the error tree (core/errors.py) in API.md's envelope, or Anthropic's on /messages.

Every library's own error hook is pointed here: werkzeug's HTTP errors, flask-limiter's RateLimitExceeded,
marshmallow's ValidationError, flask-jwt-extended's loaders (auth.py), and anything unhandled (a 500).
"""

import logging
import time

from flask import current_app, g, request
from flask_limiter.errors import RateLimitExceeded
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from core.errors import (
    ApiError,
    InternalError,
    RateLimitError,
    from_http_exception,
    validation_error,
)
from webapp.extensions import limiter

log = logging.getLogger("gateway")


def render_error(error):
    """An ApiError as a JSON response: our envelope, or Anthropic's when the route asked for it."""
    request_id = g.get("request_id")
    shaped = error.to_anthropic if g.get("anthropic_errors") else error.to_dict
    response = current_app.json.response(shaped(request_id))
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def register_error_handlers(app):
    """Point every layer's errors at the one envelope."""
    app.register_error_handler(ApiError, render_error)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(ValidationError, lambda exc: render_error(validation_error(exc.messages)))
    app.register_error_handler(Exception, _handle_crash)


def _handle_http(exc):
    if isinstance(exc, RateLimitExceeded):
        return render_error(rate_limit_exceeded(exc))
    return render_error(from_http_exception(exc))


def _handle_crash(exc):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(InternalError("Internal error; the request id identifies it in the logs"))


def rate_limit_exceeded(exc):
    """flask-limiter's breach as our 429, Retry-After until the window frees a slot."""
    current = limiter.current_limit
    retry_after = current.reset_at - time.time() if current else 1
    limit = str(exc.limit.limit) if getattr(exc, "limit", None) else "rate limit"
    return RateLimitError(f"Rate limit exceeded: {limit} per user for this endpoint", retry_after=retry_after)
