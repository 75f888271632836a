"""What the gateway adds to a chat request before it goes to OpenRouter (API.md, Chat)."""

from core.errors import PermissionDeniedError


def upstream_request(body, cfg, end_user):
    """The body to send: defaults, the max-tokens guard, fallbacks, allowed models and the hashed user."""
    out = dict(body)
    if "model" not in out and "models" not in out:
        out["model"] = cfg["OPENROUTER_DEFAULT_MODEL"]
        if cfg["OPENROUTER_FALLBACK_MODELS"]:
            out["models"] = cfg["OPENROUTER_FALLBACK_MODELS"][:3]
    check_allowed(out, cfg["ALLOWED_MODELS"])
    _guard_max_tokens(out, cfg["DEFAULT_MAX_TOKENS"], cfg["MAX_TOKENS_LIMIT"])
    out["user"] = end_user  # the caller's own `user` is never forwarded
    return out


def check_allowed(body, allowed):
    """403 for a `model` (or one of `models`) outside ALLOWED_MODELS, when that is set."""
    if not allowed:
        return
    for model in [body.get("model"), *body.get("models", ())]:
        if model is not None and model not in allowed:
            raise PermissionDeniedError(
                f"Model {model} is not allowed on this gateway; allowed: {', '.join(allowed)}",
                details={"model": [f"Must be one of: {', '.join(allowed)}."]},
            )


def _guard_max_tokens(body, default, limit):
    # Without a max, OpenRouter reserves credit for the model's whole output (402s on small balances).
    if "max_tokens" not in body and "max_completion_tokens" not in body:
        body["max_tokens"] = default
    if limit:
        for name in ("max_tokens", "max_completion_tokens"):
            if name in body and body[name] > limit:
                body[name] = limit
