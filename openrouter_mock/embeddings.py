"""POST /embeddings: deterministic unit vectors (the same text gives the same vector) of the requested size."""

import base64
import hashlib
import math
import struct

from .validate import ChatError
from .wire import gen_id

DEFAULT_MODEL = "openai/text-embedding-3-small"
DEFAULT_DIMENSIONS = 1536
PRICE_PER_TOKEN = 0.00000002


def _inputs(value):
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise ChatError(400, "input must be a non-empty string or array")


def vector(item, dimensions):
    """A unit vector from SHA-256 in counter mode over the input's text (or token ids)."""
    seed = item.encode() if isinstance(item, str) else ",".join(map(str, item)).encode()
    raw = b""
    counter = 0
    while len(raw) < 4 * dimensions:
        raw += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    values = [(n / 2**31) - 1.0 for n in struct.unpack(f">{dimensions}I", raw[: 4 * dimensions])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _encoded(values, encoding):
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def answer(body):
    """OpenAI's embeddings list for a request body, or ChatError for what OpenRouter refuses."""
    if not isinstance(body, dict):
        raise ChatError(400, "Request body must be a JSON object")
    items = _inputs(body.get("input"))
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 8192:
        raise ChatError(400, "dimensions must be an integer between 1 and 8192")
    encoding = body.get("encoding_format") or "float"
    data = [
        {"object": "embedding", "index": i, "embedding": _encoded(vector(item, dimensions), encoding)}
        for i, item in enumerate(items)
    ]
    tokens = sum(len(item) // 4 + 1 if isinstance(item, str) else len(item) for item in items)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens, "cost": round(tokens * PRICE_PER_TOKEN, 12)}
    return {"id": gen_id(), "object": "list", "data": data, "model": body.get("model") or DEFAULT_MODEL, "usage": usage}
