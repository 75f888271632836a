"""Behaving like a model: which offered tool the user's words ask for, arguments that fit its JSON schema,
and JSON answers that fit a response_format schema. Deterministic: the same request gets the same answer."""

import datetime
import re

from .wire import dumps

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ARITHMETIC = re.compile(r"\(?-?\d+(?:\.\d+)?\)?(?:\s*(?:[-+*/%^]|\*\*)\s*\(?-?\d+(?:\.\d+)?\)?)+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PLACE_AFTER = re.compile(r"\b(?:in|for|at|to|from|near|of)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)*)")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z][\w'-]*)")
_MATH_WORDS = {"calc", "calculate", "calculator", "math", "arithmetic", "expression", "evaluate", "eval", "compute"}
_PLACE_NAMES = {"location", "city", "place", "town", "country", "region", "destination", "address", "where"}
_TEXT_NAMES = {"query", "q", "search", "text", "prompt", "input", "question", "message", "content", "topic"}
_STOP = set(
    [
        "a",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "get",
        "give",
        "has",
        "have",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "list",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "set",
        "show",
        "tell",
        "that",
        "the",
        "their",
        "this",
        "to",
        "tool",
        "use",
        "using",
        "value",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "function",
        "call",
        "calls",
        "return",
        "returns",
        "current",
        "given",
        "data",
        "info",
        "information",
        "about",
    ]
)


def words(text):
    """The lower-case words of a text, with a plural's singular too ("cities" also gives "city")."""
    found = set(_WORD.findall(text.lower()))
    for word in list(found):
        if word.endswith("ies") and len(word) > 4:
            found.add(word[:-3] + "y")
        elif word.endswith("s") and len(word) > 3:
            found.add(word[:-1])
    return found


def _tool_words(name, description):
    name_words = words(_CAMEL.sub(" ", name).replace("_", " ").replace("-", " ").replace(".", " "))
    described = {w for w in words(description or "") if len(w) >= 5}
    return name_words - _STOP, described - _STOP


def fit(tool, text):
    """How well the user's words ask for this tool: 2 when a word of its name appears (or it is a calculator and
    the text holds a sum to work out), 1 when only a long word of its description does, 0 otherwise."""
    name, description = tool.get("name") or "", tool.get("description") or ""
    said = words(text)
    name_words, described = _tool_words(name, description)
    if name_words & said or (name_words and not name_words - _MATH_WORDS and _ARITHMETIC.search(text)):
        return 2
    return 1 if described & said else 0


def choose(tools, text, choice):
    """The tools to call, in the order offered: [(name, parameters schema)]; `choice` as OpenAI's tool_choice.

    Tools named by the user's words win; tools only their descriptions fit are called when none is named.
    """
    if choice == "none":
        return []
    offered = [t for t in map(_function, tools) if t.get("name")]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name") or choice.get("name")
        return [(t["name"], t.get("parameters")) for t in offered if t["name"] == wanted][:1]
    scores = [fit(t, text) for t in offered]
    best = max(scores, default=0)
    picked = [
        (t["name"], t.get("parameters")) for t, score in zip(offered, scores, strict=True) if best and score == best
    ]
    if not picked and choice == "required" and offered:
        picked = [(offered[0]["name"], offered[0].get("parameters"))]
    return picked


def _function(tool):
    if not isinstance(tool, dict):
        return {}
    return tool.get("function") if isinstance(tool.get("function"), dict) else tool


def arguments(schema, text):
    """A JSON arguments string that satisfies `schema` (an object schema), filled from the text where it can."""
    value = instance(schema or {"type": "object"}, text, "arguments", schema or {})
    return dumps(value if isinstance(value, dict) else {}).decode()


def json_answer(response_format, text):
    """The reply for a response_format of type json_schema or json_object, as JSON text; None for others."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        schema = schema if isinstance(schema, dict) else {"type": "object"}
        return dumps(instance(schema, text, spec.get("name") or "answer", schema)).decode()
    if kind == "json_object":
        return dumps({"answer": "Mock reply to: " + text[:200]}).decode()
    return None


def instance(schema, text, name, root, depth=0):
    """A value valid against a JSON schema (the subset tool and structured-output schemas use)."""
    schema = _resolve(schema, root)
    if depth > 8 or not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return _enum(schema["enum"], text)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or () if _resolve(o, root).get("type") != "null"]
        if options:
            return instance(options[0], text, name, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    maker = _MAKERS.get(kind)
    return maker(schema, text, name, root, depth) if maker else None


def _resolve(schema, root):
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema if isinstance(schema, dict) else {}
    node = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def _enum(options, text):
    said = words(text)
    return next((o for o in options if isinstance(o, str) and o.lower() in said), options[0])


def _object(schema, text, name, root, depth):
    props = schema.get("properties") or {}
    return {key: instance(sub, text, key, root, depth + 1) for key, sub in props.items()}


def _array(schema, text, name, root, depth):
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {"type": "string"}
    count = max(1, schema.get("minItems") or 0)
    return [instance(items, text, name, root, depth + 1) for _ in range(count)]


def _number(schema, text, name, root, depth):
    found = _NUMBER.findall(text)
    value = float(found[0]) if found else 1.0
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + 1
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - 1
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return value


def _integer(schema, text, name, root, depth):
    return int(_number(schema, text, name, root, depth))


def _string(schema, text, name, root, depth):
    value = _string_for(name.lower(), schema.get("format"), text)
    low, high = schema.get("minLength") or 0, schema.get("maxLength")
    if len(value) < low:
        value = value.ljust(low, "x")
    return value[:high] if isinstance(high, int) else value


def _string_for(name, fmt, text):
    if fmt == "date" or name.endswith("date"):
        return datetime.date(2026, 1, 1).isoformat()
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "email":
        return "user@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/"
    if name in _PLACE_NAMES or name.endswith(("city", "location")):
        return place(text) or "Paris"
    if name in ("expression", "formula", "equation", "calculation"):
        found = _ARITHMETIC.search(text)
        return found.group(0).strip() if found else "1+1"
    if name in ("timezone", "time_zone", "tz", "zone"):
        return "UTC"
    if name in _TEXT_NAMES:
        return text.strip()[:500] or "hello"
    return place(text) or (text.strip()[:80] or "example")


def place(text):
    """A proper noun from the text ("Tokyo" in "What is the weather in Tokyo?"), or None."""
    found = _PLACE_AFTER.search(text)
    if found:
        return found.group(1)
    found = _CAPITALISED.search(text)
    return found.group(1) if found and found.group(1) != "I" else None


_MAKERS = {
    "object": _object,
    "array": _array,
    "number": _number,
    "integer": _integer,
    "string": _string,
    "boolean": lambda *args: True,
    "null": lambda *args: None,
}
