"""Built-in functions the gateway runs itself when a model calls them: definitions and one safe runner."""

import json

from . import calculator, clock, dates, randomness, text_stats, units
from .schema import ToolError, parse_arguments, validate

# name -> (definition, runner taking the validated arguments and the injectable clock).
_REGISTRY = {
    "get_current_time": (clock.TOOL, lambda args, now: clock.get_current_time(**args, now=now)),
    "calculate": (calculator.TOOL, lambda args, now: calculator.calculate(**args)),
    "convert_units": (units.TOOL, lambda args, now: units.convert_units(**args)),
    "date_calculate": (dates.TOOL, lambda args, now: dates.date_calculate(**args, now=now)),
    "generate_random": (randomness.TOOL, lambda args, now: randomness.generate_random(**args)),
    "text_statistics": (text_stats.TOOL, lambda args, now: text_stats.text_statistics(**args)),
}

BUILTIN_TOOLS = [definition for definition, _ in _REGISTRY.values()]
BUILTIN_NAMES = frozenset(_REGISTRY)

# Failures the model's input can provoke, answered with a message it can act on.
_FAILURES = (
    (ZeroDivisionError, "division by zero"),
    (OverflowError, "result is too large to compute"),
    (RecursionError, "input is too deeply nested"),
    (MemoryError, "input is too large to compute"),
)

__all__ = ["BUILTIN_NAMES", "BUILTIN_TOOLS", "json_safe", "run_builtin"]
# Integers every JSON serialiser on the way carries exactly (orjson refuses anything outside 64 bits).
INT64 = range(-(2**63), 2**63)


def run_builtin(name, arguments, now=None):
    """Run built-in `name` on raw JSON `arguments`: {"output": ...} or {"error": ...}; never raises."""
    try:
        return {"output": _run(name, arguments, now)}
    except ToolError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # the model must always get an answer, whatever the input did
        message = next((text for kind, text in _FAILURES if isinstance(exc, kind)), None)
        return {"error": message or f"{name} failed: {type(exc).__name__}"}


def _run(name, arguments, now):
    """Validate the arguments, run the function and check its output can be sent back as JSON."""
    if name not in _REGISTRY:
        raise ToolError(f"unknown built-in function {name!r}; available: {', '.join(_REGISTRY)}")
    definition, runner = _REGISTRY[name]
    args = parse_arguments(arguments)
    validate(args, definition["function"]["parameters"])
    output = json_safe(runner(args, now))
    # Refuses NaN/infinity before the caller serialises them.
    json.dumps(output, allow_nan=False)
    return output


def json_safe(value):
    """`value` as any JSON serialiser can carry it: integers outside 64 bits become exact decimal strings."""
    if type(value) is int:
        return value if value in INT64 else str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
