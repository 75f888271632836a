"""Function calling: the invoke and submit requests, and the answer they share (API.md, Function calling)."""

import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.chat import Bool, ChatRequestSchema
from schemas.common import PassThroughSchema, TokenCountsSchema
from services.builtins import BUILTIN_NAMES

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
AVAILABLE = ", ".join(sorted(BUILTIN_NAMES))


def _check_tool_name(name):
    # fullmatch: a trailing newline must not pass, and the spec's pattern stays an ECMA regex.
    if not TOOL_NAME.fullmatch(name):
        raise ValidationError("Must be 1 to 64 letters, digits, underscores or dashes.")


class ToolFunctionSchema(PassThroughSchema):
    name = fields.String(required=True, validate=_check_tool_name, metadata={"pattern": "^[A-Za-z0-9_-]{1,64}$"})
    description = fields.String()
    parameters = fields.Dict()


class ToolDefinitionSchema(PassThroughSchema):
    """One of the caller's functions, as OpenAI defines tools; other keys pass through."""

    type = fields.String(required=True, validate=validate.Equal("function"))
    function = fields.Nested(ToolFunctionSchema, required=True)


class BuiltinSelection(fields.Field):
    """`builtin_tools`: true for every built-in, false for none, or a list of their names."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise ValidationError("Must be true, false, or a list of built-in function names.")
        unknown = [name for name in dict.fromkeys(value) if name not in BUILTIN_NAMES]
        if unknown:
            raise ValidationError(f"Unknown built-in function: {', '.join(unknown)}; available: {AVAILABLE}.")
        return value


class ToolInvokeRequestSchema(ChatRequestSchema):
    """The chat request plus the caller's tools, the built-ins to offer and the loop's settings."""

    class Meta:
        unknown = RAISE  # the loop builds its own upstream requests from the fields it knows

    tools = fields.List(fields.Nested(ToolDefinitionSchema))
    builtin_tools = BuiltinSelection()
    auto_execute = Bool()
    max_iterations = fields.Integer(strict=True, validate=validate.Range(min=1, max=10))

    @validates_schema
    def check_tools(self, data, **kwargs):
        if data.get("stream") is True:
            raise ValidationError("Streaming is not supported by /tools/invoke; leave stream out or false.", "stream")
        names = [tool["function"]["name"] for tool in data.get("tools") or ()]
        for index, name in enumerate(names):
            if name in BUILTIN_NAMES:
                _tool_name_error(index, f"{name} is a built-in function's name; use builtin_tools to offer it.")
            if name in names[:index]:
                _tool_name_error(index, f"Another tool is already named {name}.")
        builtins = data.get("builtin_tools")
        if not names and not builtins:
            raise ValidationError("Offer at least one function: tools, builtin_tools, or both.", "tools")
        offered = set(names) | (set(BUILTIN_NAMES) if builtins is True else set(builtins or ()))
        chosen = _chosen_function(data.get("tool_choice"))
        if chosen is not None and chosen not in offered:
            raise ValidationError(f"tool_choice names {chosen}, which is not among the tools offered.", "tool_choice")


def _tool_name_error(index, message):
    raise ValidationError({"tools": {index: {"function": {"name": [message]}}}})


def _chosen_function(choice):
    if isinstance(choice, dict):
        function = choice.get("function")
        return function.get("name") if isinstance(function, dict) else None
    return None


class ToolOutputSchema(Schema):
    class Meta:
        unknown = RAISE

    tool_call_id = fields.String(required=True, validate=validate.Length(min=1))
    output = fields.Raw(
        required=True,
        allow_none=True,
        metadata={"description": "A string, or any JSON value (sent to the model as JSON text)"},
    )


class ToolSubmitRequestSchema(Schema):
    """The outputs of every pending call of a session, each answered exactly once."""

    class Meta:
        unknown = RAISE

    session_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    tool_outputs = fields.List(fields.Nested(ToolOutputSchema), required=True)


class PendingToolCallSchema(Schema):
    id = fields.String()
    type = fields.String()
    function = fields.Dict(metadata={"description": "{name, arguments}: arguments as the model sent them"})


class ExecutedToolCallSchema(Schema):
    id = fields.String()
    name = fields.String()
    arguments = fields.String(metadata={"description": "The raw JSON string the model sent"})
    output = fields.Raw()
    error = fields.String()


class ToolUsageSchema(TokenCountsSchema):
    total_tokens = fields.Integer()


class ToolRunSchema(Schema):
    """The answer of invoke and submit."""

    session_id = fields.String()
    status = fields.String(validate=validate.OneOf(("requires_action", "completed")))
    stop_reason = fields.String(validate=validate.OneOf(("tool_calls", "stop", "max_iterations", "deadline")))
    model = fields.String()
    message = fields.Dict(metadata={"description": "The assistant message of the last model call"})
    tool_calls = fields.List(fields.Nested(PendingToolCallSchema))
    executed_tool_calls = fields.List(fields.Nested(ExecutedToolCallSchema))
    iterations = fields.Integer()
    usage = fields.Nested(ToolUsageSchema)
    expires_at = fields.String(metadata={"description": "RFC 3339"})


class BuiltinToolListSchema(Schema):
    object = fields.String()
    data = fields.List(fields.Dict())
