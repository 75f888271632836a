"""OpenRouter's inference APIs as the gateway sees them: path, what it adds to a body, where usage sits.

Chat, Responses, Messages and Embeddings share one orchestration (services/model_calls.py) and one relay; this module
holds what differs between them, and nothing else.
"""

from services.chat import check_allowed, upstream_request
from upstream.dialects import MESSAGES, RESPONSE_ENDS, RESPONSES
from upstream.streaming import CHAT as CHAT_DIALECT

DEFAULT_EMBEDDING_MODEL = "openai/text-embedding-3-small"


def _number(usage, *names):
    total = 0
    for name in names:
        value = usage.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            total += value
    return total


def _usage(prompt, completion, usage):
    """A usage object in chat's terms (prompt/completion tokens, cost), which usage accounting reads."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "cost": _number(usage, "cost")}


def _capped(body, name, default, limit):
    # Without a max, OpenRouter reserves credit for the model's whole output (402s on small balances).
    if name not in body:
        body[name] = default
    if limit and isinstance(body[name], int) and body[name] > limit:
        body[name] = limit


def _with_model(body, cfg, default):
    out = dict(body)
    if "model" not in out and "models" not in out:
        out["model"] = default
    check_allowed(out, cfg["ALLOWED_MODELS"])
    return out


def responses_request(body, cfg, end_user):
    """A Responses body: default model, allowed models, a default max_output_tokens, the hashed user."""
    out = _with_model(body, cfg, cfg["OPENROUTER_DEFAULT_MODEL"])
    _capped(out, "max_output_tokens", cfg["DEFAULT_MAX_TOKENS"], cfg["MAX_TOKENS_LIMIT"])
    out["user"] = end_user
    return out


def messages_request(body, cfg, end_user):
    """A Messages body: the same, with `max_tokens`; the hashed user as Anthropic's own `metadata.user_id`.

    No top-level `user`: Anthropic's API refuses fields it does not define, and this body is its format.
    """
    out = _with_model(body, cfg, cfg["OPENROUTER_DEFAULT_MODEL"])
    _capped(out, "max_tokens", cfg["DEFAULT_MAX_TOKENS"], cfg["MAX_TOKENS_LIMIT"])
    metadata = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
    out["metadata"] = {**metadata, "user_id": end_user}  # the caller's own user_id is never forwarded
    return out


def embeddings_request(body, cfg, end_user):
    """An embeddings body: default model, allowed models, the hashed user."""
    out = _with_model(body, cfg, cfg.get("OPENROUTER_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL)
    out["user"] = end_user
    return out


def _responses_usage(usage):
    return _usage(_number(usage, "input_tokens"), _number(usage, "output_tokens"), usage)


def _messages_usage(usage):
    # Anthropic's input_tokens leaves out the cached part; the prompt is all three.
    prompt = _number(usage, "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return _usage(prompt, _number(usage, "output_tokens"), usage)


def _embeddings_usage(usage):
    return _usage(_number(usage, "prompt_tokens"), 0, usage)


def _chat_stream_usage(chunk):
    return chunk.get("usage"), chunk.get("model")


def _responses_stream_usage(chunk):
    response = chunk.get("response")
    if chunk.get("type") in RESPONSE_ENDS and isinstance(response, dict):
        return response.get("usage"), response.get("model")
    return None, None


def _messages_stream_usage(chunk):
    # message_start carries the input side, message_delta the output so far (cumulative): merged by the caller.
    if chunk.get("type") == "message_start" and isinstance(chunk.get("message"), dict):
        return chunk["message"].get("usage"), chunk["message"].get("model")
    if chunk.get("type") == "message_delta":
        return chunk.get("usage"), None
    return None, None


class InferenceApi:
    """One upstream API: its path, metric label, body preparation, answer key, usage reading, stream dialect."""

    def __init__(self, name, path, prepare, answer_key, usage, stream_usage=None, dialect=None, forward=()):
        self.name, self.path, self.prepare, self.answer_key = name, path, prepare, answer_key
        self.usage, self.stream_usage, self.dialect, self.forward = usage, stream_usage, dialect, forward

    def usage_of(self, body):
        """The answer's usage in chat's terms (None when it has none)."""
        usage = body.get("usage")
        return self.usage(usage) if isinstance(usage, dict) else None


CHAT = InferenceApi(
    "chat", "/chat/completions", upstream_request, "choices", lambda usage: usage, _chat_stream_usage, CHAT_DIALECT
)
RESPONSES_API = InferenceApi(
    "responses", "/responses", responses_request, "output", _responses_usage, _responses_stream_usage, RESPONSES
)
MESSAGES_API = InferenceApi(
    "messages",
    "/messages",
    messages_request,
    "content",
    _messages_usage,
    _messages_stream_usage,
    MESSAGES,
    forward=("anthropic-version", "anthropic-beta"),
)
EMBEDDINGS_API = InferenceApi("embeddings", "/embeddings", embeddings_request, "data", _embeddings_usage)
