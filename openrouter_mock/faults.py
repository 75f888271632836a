"""Fault names, text markers and the error responses the mock can be told to produce."""

import re
import time

from .catalogue import provider_name
from .wire import dumps, error_body

# Faults answered with an HTTP error status and an OpenRouter error body.
ERROR_FAULTS = (
    "400",
    "400-provider",
    "401",
    "402",
    "403",
    "403-key",
    "404",
    "408",
    "413",
    "422",
    "429",
    "429-bare",
    "500",
    "502",
    "503",
    "524",
    "529",
)
# Faults that shape or break the transport.
BEHAVIOUR_FAULTS = (
    "slow",
    "silence",
    "drop",
    "invalid-json",
    "error-200",
    "finish-error",
    "stream-error",
    "stream-drop",
    "stream-stall",
)
FAULTS = ERROR_FAULTS + BEHAVIOUR_FAULTS

_MARKER = re.compile(r"\[\[(fault|delay_ms|chunks|interval_ms):([^\]]*)\]\]")
_RETRY_AFTER = re.compile(r"\[\[retry_after:([^\]]*)\]\]")
_CALL = re.compile(r"\[\[call:([A-Za-z0-9_.\-]+)(?::(.*?))?\]\]", re.S)


class Markers:
    """Directives found in the last user message text."""

    __slots__ = (
        "fault",
        "delay_ms",
        "chunks",
        "interval_ms",
        "keepalive",
        "always_call",
        "calls",
        "echo_auth",
        "retry_after",
    )

    def __init__(self, text: str = ""):
        self.fault = None
        self.delay_ms = 0
        self.chunks = 3
        self.interval_ms = 0
        self.keepalive = False
        self.always_call = False
        self.calls = []  # (name, raw arguments string or None)
        self.echo_auth = False
        self.retry_after = None  # `[[retry_after:1.5]]`: the 429 faults send this Retry-After value verbatim
        if "[[" not in text:
            return
        for key, value in _MARKER.findall(text):
            if key == "fault":
                self.fault = value.strip()
                continue
            try:
                number = max(0, int(value.strip()))
            except ValueError:
                continue
            if key == "chunks":
                self.chunks = max(1, min(number, 10000))
            else:
                setattr(self, key, number)
        self.keepalive = "[[keepalive]]" in text
        self.always_call = "[[always_call]]" in text
        self.echo_auth = "[[echo_auth]]" in text
        retry_after = _RETRY_AFTER.search(text)
        self.retry_after = retry_after.group(1) if retry_after else None
        # finditer keeps "no arguments given" (None) distinct from empty arguments.
        self.calls = [(m.group(1), m.group(2)) for m in _CALL.finditer(text)]


def _provider_raw(provider: str) -> dict:
    raws = {
        "Anthropic": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        "Google AI Studio": {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}},
    }
    raw = raws.get(
        provider,
        {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        },
    )
    return {"raw": dumps(raw).decode(), "provider_name": provider, "is_byok": False}


def _flagged(text: str) -> str:
    return text if len(text) <= 100 else text[:48] + "..." + text[-49:]


def error_response(fault: str, model: str, user_text: str):
    """Return (status, body dict, extra headers) for an error fault."""
    provider = provider_name(model)
    headers = {}
    if fault == "400":
        status, body = 400, error_body(400, "Invalid request (mock fault 400)", {"provider_name": None})
    elif fault == "400-provider":
        raw = {
            "error": {
                "message": "Invalid 'messages': mock provider rejected the request.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        }
        status, body = (
            400,
            error_body(
                400,
                "Provider returned error",
                {"raw": dumps(raw).decode(), "provider_name": provider, "is_byok": False},
            ),
        )
    elif fault == "401":
        status, body = 401, error_body(401, "User not found.")
    elif fault == "402":
        status, body = (
            402,
            error_body(
                402,
                "Insufficient credits. Add more using https://openrouter.ai/credits",
                {"provider_name": None},
            ),
        )
    elif fault == "403":
        msg = (
            f'{model} requires moderation on OpenRouter. Your input was flagged for "violence". '
            "No credits were charged."
        )
        status, body = (
            403,
            error_body(
                403,
                msg,
                {
                    "reasons": ["violence"],
                    "flagged_input": _flagged(user_text),
                    "provider_name": provider,
                    "model_slug": model,
                },
            ),
        )
    elif fault == "403-key":
        status, body = (
            403,
            error_body(403, "Key limit exceeded (daily limit). Manage it using https://openrouter.ai/settings/keys"),
        )
    elif fault == "404":
        status, body = 404, error_body(404, f"No endpoints found for {model}.")
    elif fault == "408":
        status, body = 408, error_body(408, "Operation timed out. Please try again later.")
    elif fault == "413":
        status, body = (
            413,
            error_body(413, "Downloaded image content cannot exceed 30MB", {"provider_name": None}),
        )
    elif fault == "422":
        status, body = 422, error_body(422, "Unprocessable request (mock fault 422)", {"provider_name": None})
    elif fault == "429":
        reset = str(int(time.time() * 1000) + 7000)
        rl = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
        headers = dict(rl, **{"Retry-After": "7"})
        status, body = (
            429,
            error_body(429, "Rate limit exceeded: free-models-per-min.", {"headers": rl, "provider_name": None}),
        )
    elif fault == "429-bare":
        msg = (
            f"{model} is temporarily rate-limited upstream. Please retry shortly, or add your own key to "
            "accumulate your rate limits: https://openrouter.ai/settings/integrations"
        )
        status, body = (
            429,
            error_body(
                429,
                msg,
                {
                    "raw": f"{model} is temporarily rate-limited upstream.",
                    "provider_name": provider,
                    "is_byok": False,
                },
            ),
        )
    elif fault == "500":
        status, body = 500, error_body(500, "Internal Server Error")
    elif fault in ("502", "529"):
        status, body = int(fault), error_body(int(fault), "Provider returned error", _provider_raw(provider))
    elif fault == "503":
        status, body = 503, error_body(503, "Service temporarily unavailable", {"provider_name": None})
    elif fault == "524":
        status, body = 524, error_body(524, "Request timed out. Please try again later.")
    else:
        raise ValueError(fault)
    return status, body, headers


def error_200_body(model: str) -> dict:
    """A 200 body made only of an error, as some :free providers send."""
    return error_body(
        502,
        "Provider returned error",
        {"raw": "upstream connection reset by peer", "provider_name": provider_name(model)},
    )


def mid_stream_error() -> dict:
    """The error object of a mid-stream error chunk or a finish_reason 'error' choice."""
    return {
        "code": 502,
        "message": "Provider returned error",
        "metadata": {"error_type": "provider_unavailable", "provider_code": "upstream_error"},
    }


def echo_auth(body: dict, auth: str) -> dict:
    """`[[echo_auth]]`: the error quotes the Authorization header received, as a misconfigured proxy might.

    It lands in every text a gateway might pass on: the message and metadata raw, provider_name and reasons
    (of the top-level error and of any choice's error).
    """
    errors = [body.get("error")] + [c.get("error") for c in body.get("choices") or () if isinstance(c, dict)]
    for error in errors:
        if not isinstance(error, dict):
            continue
        error["message"] = f"{error.get('message')} (received Authorization: {auth})"
        meta = error.get("metadata") if isinstance(error.get("metadata"), dict) else {}
        meta.update(raw=f"proxy echo: Authorization: {auth}", provider_name=f"Echo ({auth})")
        meta["reasons"] = [*meta.get("reasons", ()), f"header {auth}"] if "reasons" in meta else meta.get("reasons")
        error["metadata"] = {key: value for key, value in meta.items() if value is not None}
    return body
