"""One redaction step for every text that may carry a credential on its way to a caller or a log line.

Upstream text (OpenRouter's error messages and metadata, mid-stream error events) is not ours: a misconfigured
proxy or a provider error may quote the Authorization header it received. Whatever passes through here loses
the configured OpenRouter key and anything shaped like a bearer token or an OpenRouter key.
"""

import re

MARK = "[REDACTED]"
_BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20|\+)[A-Za-z0-9._~+/=-]+")
_OPENROUTER_KEY = re.compile(r"sk-or-[A-Za-z0-9_-]*")
# Process-wide, like the log handler: the keys of every app this process built. Tuples, replaced whole, so a
# thread reading them never sees one change size under it.
_secrets = ()
_secret_bytes = ()


def register(secret):
    """Redact `secret` (the configured OpenRouter key) wherever it appears from now on."""
    global _secrets, _secret_bytes
    if secret and secret not in _secrets:
        _secrets = (*_secrets, secret)
        _secret_bytes = (*_secret_bytes, secret.encode())


def redact(text):
    """`text` with every registered secret and every key-shaped token replaced by [REDACTED]."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MARK)
    if "sk-or-" in text:
        text = _OPENROUTER_KEY.sub(MARK, text)
    return _BEARER.sub(lambda match: f"{match[1]} {MARK}", text)


def redact_secrets(data):
    """Bytes of an answer passed on as it is (a completion) without the registered secrets; a cheap scan.

    Only the secrets themselves: a model's answer may well talk about bearer tokens.
    """
    for secret in _secret_bytes:
        if secret in data:
            data = data.replace(secret, b"[REDACTED]")
    return data


def redact_value(value):
    """A JSON-like value with every string in it (keys too) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(key): redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value
