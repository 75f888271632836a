"""One exception tree for every error the gateway answers (Flask-free); webapp/error_handlers.py renders it.

Retry advice is a property of the class: `should_retry = False` answers `x-should-retry: false`, which stops
the OpenAI and Anthropic SDKs from re-sending a call that reached OpenRouter (and may be billed).
"""

import math

from core.redaction import redact, redact_value


class ApiError(Exception):
    """Base of every error answered to a caller: status, `type`, message, optional details and headers."""

    status = 500
    type = "internal_error"
    should_retry = None  # None: no advice, the caller's SDK decides by status; False: `x-should-retry: false`

    def __init__(self, message, details=None, headers=None, status=None):
        # Messages and details may quote upstream text: no credential reaches a caller, a log or a traceback.
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.details = redact_value(details) if details else details
        self.headers = dict(headers or {})
        if status is not None:
            self.status = status
        if self.should_retry is False:
            self.headers.setdefault("x-should-retry", "false")

    def to_dict(self, request_id=None):
        """The body of API.md's error envelope."""
        error = {"code": self.status, "type": self.type, "message": self.message}
        if self.details:
            error["details"] = self.details
        error["request_id"] = request_id
        return {"error": error}

    def to_anthropic(self, request_id=None):
        """The same error in Anthropic's envelope (the /messages route), so its SDKs raise the right class."""
        kind = ANTHROPIC_TYPES.get(self.type, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}, "request_id": request_id}


class InvalidRequestError(ApiError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(ApiError):
    status = 401
    type = "authentication_error"


class PermissionDeniedError(ApiError):
    status = 403
    type = "permission_error"


class NotFoundError(ApiError):
    status = 404
    type = "not_found_error"


class MethodNotAllowedError(ApiError):
    status = 405
    type = "method_not_allowed"


class ConflictError(ApiError):
    status = 409
    type = "conflict_error"


class RequestTooLargeError(ApiError):
    status = 413
    type = "request_too_large"


MAX_RETRY_AFTER = 86400  # a day: an upstream's absurd value (1e308, inf) must not become ours


class RateLimitError(ApiError):
    """429; always carries a whole `Retry-After` of at least one second (a fraction rounds up)."""

    status = 429
    type = "rate_limit_error"

    def __init__(self, message, retry_after=1, details=None, headers=None):
        headers = dict(headers or {})
        seconds = float(retry_after)
        seconds = min(seconds, MAX_RETRY_AFTER) if math.isfinite(seconds) else 1
        headers["Retry-After"] = str(max(1, math.ceil(seconds)))
        super().__init__(message, details=details, headers=headers)


class InternalError(ApiError):
    status = 500
    type = "internal_error"


class UpstreamError(ApiError):
    """OpenRouter failed a call it received: not re-sent (it may have been billed)."""

    status = 502
    type = "upstream_error"
    should_retry = False


class UpstreamUnreachableError(UpstreamError):
    """No connection to OpenRouter was opened: nothing was sent, so the caller may safely retry."""

    should_retry = None


class ServiceUnavailableError(ApiError):
    status = 503
    type = "service_unavailable"


class RedisUnavailableError(ServiceUnavailableError):
    """Shared state did not answer (down, frozen, or this worker's pool busy); services/redis_state.py raises it."""

    def __init__(self, message="Shared state (Redis) is not answering; try again shortly", **kwargs):
        super().__init__(message, **kwargs)


class UpstreamTimeoutError(ApiError):
    status = 504
    type = "upstream_timeout"
    should_retry = False


# Compatibility alias: upstream/client.py (issue 11's file) still passes it; the classes above set it themselves.
NO_RETRY = {"x-should-retry": "false"}

# Our types as Anthropic's (its SDKs choose the exception class by status; the type is for people and logs).
# Anthropic has no type for 405/409/413: they are requests to change. 503 (no key, Redis down) is "try again
# later", Anthropic's overloaded_error; a timeout or a failure upstream is its catch-all api_error.
ANTHROPIC_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "conflict_error": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "service_unavailable": "overloaded_error",
    "internal_error": "api_error",
    "upstream_error": "api_error",
    "upstream_timeout": "api_error",
}


def flatten_messages(messages, prefix=""):
    """marshmallow's nested error dict as {"dotted.path": [messages]}."""
    if isinstance(messages, dict):
        flat = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and key != "_schema" else (prefix or str(key))
            flat.update(flatten_messages(value, path))
        return flat
    if isinstance(messages, list) and messages and not all(isinstance(m, str) for m in messages):
        flat = {}
        for item in messages:
            flat.update(flatten_messages(item, prefix))
        return flat
    return {prefix or "_body": list(messages) if isinstance(messages, list) else [str(messages)]}


def validation_error(messages):
    """A 400 whose message names the first failing field and whose details list them all."""
    details = flatten_messages(messages)
    path, problems = next(iter(details.items()))
    message = f"{path}: {problems[0]}" if path != "_body" else problems[0]
    return InvalidRequestError(message, details=details)


_HTTP_ERRORS = {
    400: (InvalidRequestError, "Request body is not valid JSON"),
    404: (NotFoundError, "No such route; see /api/v2/openrouter/docs"),
    405: (MethodNotAllowedError, "Method not allowed for this route"),
    413: (RequestTooLargeError, "Request body is too large"),
    415: (InvalidRequestError, "Send the body as JSON with 'Content-Type: application/json'"),
}


def from_http_exception(exc):
    """werkzeug's HTTP errors as our own, with a message of ours (never an HTML page)."""
    cls, message = _HTTP_ERRORS.get(exc.code, (None, None))
    if cls is None:
        return ApiError(exc.description or exc.name, status=exc.code or 500)
    error = cls(message)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        error.headers["Allow"] = ", ".join(exc.valid_methods)
    return error
