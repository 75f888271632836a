"""One place that turns OpenRouter's failures into the gateway's errors (API.md's error table)."""

import math
import time
from email.utils import parsedate_to_datetime

import orjson
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from core.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from core.redaction import redact_value

PROVIDER_ERROR = "Provider returned error"


def parse_error_body(content):
    """OpenRouter's `{"error": {code, message, metadata}}`, tolerating any other body."""
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _text(value, limit=2000):
    if value is None:
        return None
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:limit]


def upstream_details(error):
    """The useful parts of OpenRouter's metadata, as `details` lists of strings."""
    meta = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
    details = {}
    for key in ("raw", "provider_name", "flagged_input", "error_type", "model_slug"):
        if meta.get(key) is not None:
            details[f"upstream.{key}"] = [_text(meta[key])]
    if isinstance(meta.get("reasons"), list):
        details["reasons"] = [str(r) for r in meta["reasons"]]
    return details or None


def describe(error, fallback):
    """OpenRouter's message, with `metadata.raw` when the message is only 'Provider returned error'."""
    error = redact_value(error)  # before any cut, which could leave part of a key that no longer matches
    message = error.get("message") if isinstance(error.get("message"), str) else fallback
    raw = (error.get("metadata") or {}).get("raw") if isinstance(error.get("metadata"), dict) else None
    if message == PROVIDER_ERROR and raw:
        message = f"{PROVIDER_ERROR}: {_text(raw, 500)}"
    return message


def _retry_after(headers, error):
    """Seconds to wait: OpenRouter's Retry-After (seconds, maybe fractional, or an HTTP date), else its
    X-RateLimit-Reset (epoch ms), else 1. RateLimitError rounds up and bounds whatever comes out."""
    value = headers.get("Retry-After") if headers else None
    seconds = _seconds(value) if value else None
    if seconds is None:
        seconds = _date_seconds(value)
    if seconds is not None:
        return max(1.0, seconds)
    meta = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
    limits = meta.get("headers") if isinstance(meta.get("headers"), dict) else {}
    reset = _seconds(limits.get("X-RateLimit-Reset"))
    return max(1.0, reset / 1000 - time.time()) if reset is not None else 1.0


def _seconds(value):
    """A finite number from a header value, else None ("1.5" → 1.5; "inf", "nan", "soon" → None)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _date_seconds(value):
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def error_for_status(status, error, headers=None):
    """Our error for an OpenRouter status and its parsed `error` object."""
    error = redact_value(error)
    message = describe(error, f"OpenRouter answered HTTP {status}")
    details = upstream_details(error)
    if status in (400, 404, 422):
        return InvalidRequestError(message, details=details)
    if status == 401:
        return UpstreamError("OpenRouter rejected the gateway's API key (401)")
    if status == 402:
        return UpstreamError(f"OpenRouter credits exhausted (402): {message}")
    if status == 403 and details and "reasons" in details:
        return PermissionDeniedError(f"Moderation: {message}", details=details)
    if status == 403:
        return UpstreamError(f"OpenRouter refused the gateway's key (403): {message}")
    if status in (408, 524):
        return UpstreamTimeoutError(f"OpenRouter timed out ({status}): {message}")
    if status == 413:
        return RequestTooLargeError(message, details=details)
    if status == 429:
        return RateLimitError(
            f"OpenRouter rate limit: {message}", retry_after=_retry_after(headers, error), details=details
        )
    return UpstreamError(f"OpenRouter error ({status}): {message}", details=details)


def error_from_response(status, content, headers):
    """Our error for an OpenRouter HTTP error response."""
    return error_for_status(status, parse_error_body(content), headers)


def error_from_chunk(error):
    """Our error for an `error` object found inside a 200 (a stream chunk or an error-only body)."""
    code = error.get("code")
    try:
        status = int(code)
    except (TypeError, ValueError):
        status = 502
    return error_for_status(status if 400 <= status < 600 else 502, error)


def error_from_exception(exc):
    """Our error for a urllib3 exception: unreachable, silent, or cut off."""
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(reason, NewConnectionError | ConnectTimeoutError | NameResolutionError):
        return UpstreamUnreachableError("OpenRouter is unreachable: could not open a connection")
    if isinstance(reason, ReadTimeoutError):
        return UpstreamTimeoutError("OpenRouter sent nothing within OPENROUTER_TIMEOUT")
    return UpstreamError("The connection to OpenRouter broke before the answer was complete")
