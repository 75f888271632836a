"""Request validation for chat completions, refusing what OpenRouter refuses."""

import base64
import binascii
import re

from . import catalogue
from .wire import dumps

DEFAULT_MODEL = "anthropic/claude-sonnet-4.5"
ROLES = ("system", "developer", "user", "assistant", "tool")
_IMAGE_DATA = re.compile(r"data:image/(png|jpeg|webp|gif);base64,(.+)", re.S)


class ChatError(Exception):
    """A refusal with an HTTP status, message and optional metadata."""

    def __init__(self, status, message, metadata=None):
        super().__init__(message)
        self.status, self.message, self.metadata = status, message, metadata


def text_of(content) -> str:
    """Return the text of a message content (string, or the text parts joined by spaces)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _check_parts(content, index, needs):
    """Validate media parts of one message and note which modalities it uses."""
    if not isinstance(content, list):
        return
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "input_audio":
            audio = part.get("input_audio") or {}
            data = audio.get("data") if isinstance(audio, dict) else None
            if not isinstance(data, str) or not data or data.startswith("data:"):
                raise ChatError(
                    400,
                    f"messages[{index}]: input_audio.data must be raw base64 (no data: URI prefix and no URL)",
                )
            if not audio.get("format"):
                raise ChatError(400, f"messages[{index}]: input_audio.format is required")
            needs.add("audio")
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not _valid_image_url(url):
                raise ChatError(
                    400,
                    f"messages[{index}]: invalid image URL, expected an http(s) URL or "
                    "data:image/(png|jpeg|webp|gif);base64,...",
                )
            needs.add("image")


def _valid_image_url(url) -> bool:
    if not isinstance(url, str):
        return False
    if url.startswith(("http://", "https://")):
        return len(url) > 8
    match = _IMAGE_DATA.fullmatch(url)
    if not match:
        return False
    try:
        base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _unanswered(pending):
    ids = ", ".join(sorted(pending))
    return ChatError(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        f"{ids}",
    )


def _gemini_signature_error(name):
    raw = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": (
                "Function call is missing a thought_signature in functionCall parts. This is required "
                f"for tools to work correctly. Additional data, function call `default_api:{name}`. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            ),
        }
    }
    return ChatError(
        400,
        "Provider returned error",
        {"raw": dumps(raw).decode(), "provider_name": "Google AI Studio", "is_byok": False},
    )


def validate_messages(messages, gemini3) -> set:
    """Check roles, tool-call pairing and media parts; return the modalities used."""
    needs = set()
    open_ids, pending = set(), set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise ChatError(400, f"messages[{i}]: role must be one of {', '.join(ROLES)}")
        role = msg["role"]
        if role == "tool":
            tid = msg.get("tool_call_id")
            if tid not in open_ids:
                raise ChatError(
                    400,
                    f"messages[{i}]: a 'tool' message must answer a tool call of the preceding "
                    f"assistant message (unknown tool_call_id {tid!r})",
                )
            pending.discard(tid)
        else:
            if pending:
                raise _unanswered(pending)
            calls = msg.get("tool_calls") if role == "assistant" else None
            open_ids = set()
            if calls:
                ids = [c.get("id") for c in calls if isinstance(c, dict)]
                open_ids, pending = set(ids), set(ids)
                if gemini3 and not msg.get("reasoning_details"):
                    name = (calls[0].get("function") or {}).get("name", "tool")
                    raise _gemini_signature_error(name)
        _check_parts(msg.get("content"), i, needs)
    if pending:
        raise _unanswered(pending)
    return needs


def resolve_model(body) -> str:
    """Check model / models and return the model that answers."""
    models = body.get("models")
    if models is not None and not isinstance(models, list):
        raise ChatError(400, "'models' must be an array of model IDs")
    models = models or []
    if len(models) > 3:
        raise ChatError(400, "'models' array must have 3 items or fewer.")
    model = body.get("model") or (models[0] if models else DEFAULT_MODEL)
    for mid in [model, *models]:
        if not isinstance(mid, str) or catalogue.lookup(mid) is None:
            raise ChatError(400, f"{mid} is not a valid model ID")
    return model
