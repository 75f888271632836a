"""Tool definitions and a tiny validator for the JSON-schema subset the built-in tools use."""

import json

# The text tool takes 100,000 characters; JSON escapes may grow each to six, so allow a little more.
MAX_ARGUMENTS_CHARS = 700_000

_TYPES = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


class ToolError(Exception):
    """A problem the model caused and can fix; its message is returned to the model."""


def function_tool(name, description, properties, required=()):
    """An OpenAI tool definition whose parameters reject unknown fields."""
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }
    function = {"name": name, "description": description, "parameters": parameters}
    return {"type": "function", "function": function}


def _reject_constant(token):
    raise ToolError(f"arguments must be valid JSON; {token} is not a JSON number")


def parse_arguments(raw):
    """The model's raw argument string as a dict; empty means no arguments."""
    value = raw if isinstance(raw, dict) else _decode(raw)
    if not isinstance(value, dict):
        raise ToolError(f"arguments must be a JSON object, not {_type_name(value)}")
    # Models often send null for an optional argument they mean to leave out.
    return {key: item for key, item in value.items() if item is not None}


def _decode(raw):
    """Decode a JSON string, bounded in size; blank means an empty object."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        raise ToolError("arguments must be a JSON object encoded as a string")
    if len(raw) > MAX_ARGUMENTS_CHARS:
        raise ToolError(f"arguments are too long (more than {MAX_ARGUMENTS_CHARS} characters)")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ToolError(f"arguments are not valid JSON: {exc}") from None


def _type_name(value):
    """The JSON name of a Python value's type."""
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name != "boolean"):
            return name
    return "null" if value is None else type(value).__name__


def _label(field):
    """How a message names a field: the whole arguments object or one argument."""
    return f"argument '{field}'" if field else "arguments"


def validate(value, schema, field=""):
    """Raise ToolError naming the first field of `value` that breaks `schema`."""
    expected, label = schema.get("type"), _label(field)
    # bool is an int subclass in Python, but true is not a number in JSON.
    wrong_bool = isinstance(value, bool) and expected != "boolean"
    if expected and (wrong_bool or not isinstance(value, _TYPES[expected])):
        raise ToolError(f"{label} must be of type {expected}, not {_type_name(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise ToolError(f"{label} must be one of {', '.join(map(json.dumps, schema['enum']))}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ToolError(f"{label} must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ToolError(f"{label} must be at most {schema['maximum']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise ToolError(f"{label} must be at most {schema['maxLength']} characters long")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise ToolError(f"{label} must have at most {schema['maxItems']} items")
    if expected == "array" and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{field}[{index}]")
    if expected == "object":
        _validate_object(value, schema, field)


def _validate_object(value, schema, field):
    """Check required, unknown and nested properties of an object."""
    properties = schema.get("properties", {})
    prefix = f"{field}." if field else ""
    for name in schema.get("required", ()):
        if name not in value:
            raise ToolError(f"missing required argument '{prefix}{name}'")
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            allowed = ", ".join(properties) or "none"
            raise ToolError(f"unknown argument '{prefix}{unknown[0]}' (allowed: {allowed})")
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], prefix + name)
