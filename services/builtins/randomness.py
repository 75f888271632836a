"""The `generate_random` built-in: integers, floats, UUIDs and choices from the OS's secure generator."""

import secrets
import uuid
from random import SystemRandom

from .schema import ToolError, function_tool

MAX_BOUND = 10**15
MAX_COUNT = 100
_RNG = SystemRandom()
_DEFAULT_BOUNDS = {"integer": (1, 100), "float": (0.0, 1.0)}

TOOL = function_tool(
    "generate_random",
    "Generate cryptographically secure random values. kind 'integer' (default): whole numbers between "
    "min and max inclusive (default 1 to 100); 'float': decimals between min and max (default 0 to 1); "
    "'uuid': random version-4 UUIDs; 'choice': items picked from 'choices'. Set unique=true for values "
    "without repeats (integer and choice). Returns a list of 'count' values.",
    {
        "kind": {"type": "string", "enum": ["integer", "float", "uuid", "choice"]},
        "min": {"type": "number", "minimum": -MAX_BOUND, "maximum": MAX_BOUND, "description": "Lower bound."},
        "max": {"type": "number", "minimum": -MAX_BOUND, "maximum": MAX_BOUND, "description": "Upper bound."},
        "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "description": "How many values"},
        "choices": {
            "type": "array",
            "maxItems": 100,
            "items": {"type": "string", "maxLength": 200},
            "description": "For kind 'choice': the items to pick from.",
        },
        "unique": {"type": "boolean", "description": "No repeated values (default false)."},
    },
)


def generate_random(kind="integer", count=1, unique=False, choices=None, **bounds):
    """`count` random values of one kind."""
    if kind == "uuid":
        return {"kind": kind, "values": [str(uuid.uuid4()) for _ in range(count)]}
    if kind == "choice":
        return {"kind": kind, "values": _choices(choices, count, unique)}
    default_low, default_high = _DEFAULT_BOUNDS[kind]
    low, high = bounds.get("min", default_low), bounds.get("max", default_high)
    if low > high:
        raise ToolError(f"'min' ({low}) must not be greater than 'max' ({high})")
    if kind == "float":
        values = [_RNG.uniform(low, high) for _ in range(count)]
    else:
        low, high = _whole(low, "min"), _whole(high, "max")
        values = _integers(low, high, count, unique)
    return {"kind": kind, "min": low, "max": high, "values": values}


def _whole(number, field):
    """An integer bound, accepting 5.0 but not 5.5."""
    if isinstance(number, float) and not number.is_integer():
        raise ToolError(f"argument '{field}' must be a whole number for kind 'integer'")
    return int(number)


def _integers(low, high, count, unique):
    """Integers in [low, high], optionally without repeats."""
    size = high - low + 1
    if unique and count > size:
        raise ToolError(f"cannot draw {count} unique integers from a range of {size}")
    if unique:
        return _RNG.sample(range(low, high + 1), count)
    return [low + secrets.randbelow(size) for _ in range(count)]


def _choices(choices, count, unique):
    """Items picked from `choices`, optionally without repeats."""
    if not choices:
        raise ToolError("kind 'choice' needs a non-empty 'choices' list")
    if unique and count > len(choices):
        raise ToolError(f"cannot pick {count} unique items from {len(choices)} choices")
    if unique:
        return _RNG.sample(choices, count)
    return [secrets.choice(choices) for _ in range(count)]
