"""The chat request: OpenRouter's documented top-level fields with their ranges; inner objects pass through."""

import re

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from schemas.common import PassThroughSchema, field_errors
from services.cooperative import cooperate

MODEL_ID = re.compile(r"~?[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(:[\w.-]+)?")
ROLES = ("system", "developer", "user", "assistant", "tool")
MESSAGES_PER_SLICE = 64  # messages checked between two yields to the worker's other calls


class ModelId(fields.String):
    """`[~]author/slug[:variant]`, e.g. `anthropic/claude-sonnet-4.5`, `openrouter/auto`."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > 200 or not MODEL_ID.fullmatch(value):
            raise ValidationError("Not a model id of the form author/slug[:variant].")
        return value


class OneOfTypes(fields.Field):
    """A value of one of several JSON types, passed through as given."""

    def __init__(self, *types, error="Invalid type.", **kwargs):
        super().__init__(**kwargs)
        self.types, self.type_error = types, error

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) and bool not in self.types or not isinstance(value, self.types):
            raise ValidationError(self.type_error)
        return value


class Content(fields.Field):
    """A message's content: a string, a list of content parts (objects with a `type`), or null."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise ValidationError("Must be a string, a list of content parts, or null.")
        for index, part in enumerate(value):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise ValidationError({index: ["Each content part must be an object with a string 'type'."]})
        return value


class ToolCallFunctionSchema(PassThroughSchema):
    name = fields.String(required=True)
    arguments = fields.String(required=True)


class ToolCallSchema(PassThroughSchema):
    id = fields.String(required=True)
    type = fields.String(load_default="function", validate=validate.Equal("function"))
    function = fields.Nested(ToolCallFunctionSchema, required=True)


class MessageSchema(PassThroughSchema):
    """One message; keys the gateway does not interpret (refusal, reasoning_details, …) pass through."""

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = Content(allow_none=True)
    name = fields.String()
    tool_calls = fields.List(fields.Nested(ToolCallSchema))
    tool_call_id = fields.String()

    @validates_schema
    def check_role_fields(self, data, **kwargs):
        role, content = data.get("role"), data.get("content")
        if role == "assistant":
            if content is None and not data.get("tool_calls"):
                raise ValidationError("An assistant message needs content or tool_calls.", "content")
        elif content is None:
            raise ValidationError("Missing data for required field.", "content")
        if role == "tool" and not data.get("tool_call_id"):
            raise ValidationError("A tool message needs the tool_call_id it answers.", "tool_call_id")


class Messages(fields.List):
    """The conversation: a list of MessageSchema, each checked field by field then by its role rules.

    Same schema, same rules and messages as a nested load, at a fraction of its cost per message (a long
    conversation is the largest body the gateway validates).
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        errors = {}
        for index, message in enumerate(value):
            if index % MESSAGES_PER_SLICE == MESSAGES_PER_SLICE - 1:
                cooperate()  # a few ms of checks: a long conversation must not hold the other calls (gevent)
            problems = field_errors(MESSAGE, message, unknown_allowed=True)
            if not problems:
                try:
                    MESSAGE.check_role_fields(message)
                except ValidationError as exc:
                    problems = exc.normalized_messages()
            if problems:
                errors[index] = problems
        if errors:
            raise ValidationError(errors)
        return value


class Stop(fields.Field):
    """`stop`: a string or a list of up to 4 strings."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) or (
            isinstance(value, list) and len(value) <= 4 and all(isinstance(s, str) for s in value)
        ):
            return value
        raise ValidationError("Must be a string or a list of up to 4 strings.")


class ToolChoice(fields.Field):
    """`tool_choice`: none, auto, required, or an object naming a function."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("none", "auto", "required") or isinstance(value, dict):
            return value
        raise ValidationError("Must be none, auto, required, or a function choice object.")


MESSAGE = MessageSchema()


def _range(low=None, high=None):
    return validate.Range(min=low, max=high)


def Number(**kwargs):  # noqa: N802 - reads like the field classes beside it
    """A JSON number (never a numeric string)."""
    return OneOfTypes(int, float, error="Not a valid number.", **kwargs)


def Bool(**kwargs):  # noqa: N802
    """A JSON boolean (never 1, 0 or "true")."""
    return OneOfTypes(bool, error="Not a valid boolean.", **kwargs)


class ChatRequestSchema(Schema):
    """OpenRouter's chat request (openrouter-upstream.md §2.1): known fields are checked, unknown ones pass.

    OpenRouter ignores what it does not know and the SDKs add fields often (`n`, `store`, `safety_identifier`,
    …), so a field not declared here goes upstream untouched. Every rule sits on a field (no schema-level
    validators), so `load_present` can check only the fields given.
    """

    class Meta:
        unknown = INCLUDE

    model = ModelId()
    models = fields.List(ModelId(), validate=validate.Length(min=1, max=3))
    messages = Messages(fields.Nested(MessageSchema), required=True, validate=validate.Length(min=1))
    stream = Bool()
    stream_options = fields.Dict()
    max_tokens = fields.Integer(strict=True, validate=_range(1))
    max_completion_tokens = fields.Integer(strict=True, validate=_range(1))
    temperature = Number(validate=_range(0, 2))
    top_p = Number(validate=_range(0, 1))
    top_k = fields.Integer(strict=True, validate=_range(0))
    frequency_penalty = Number(validate=_range(-2, 2))
    presence_penalty = Number(validate=_range(-2, 2))
    repetition_penalty = Number(validate=_range(0, 2))
    min_p = Number(validate=_range(0, 1))
    top_a = Number(validate=_range(0, 1))
    seed = fields.Integer(strict=True)
    stop = Stop()
    logit_bias = fields.Dict(keys=fields.String(), values=Number(validate=_range(-100, 100)))
    logprobs = Bool()
    top_logprobs = fields.Integer(strict=True, validate=_range(0, 20))
    response_format = fields.Nested(PassThroughSchema)
    tools = fields.List(fields.Dict())
    tool_choice = ToolChoice()
    parallel_tool_calls = Bool()
    reasoning = fields.Dict()
    reasoning_effort = fields.String()
    include_reasoning = Bool()
    usage = fields.Dict()
    transforms = fields.List(fields.String())
    plugins = fields.List(fields.Dict())
    provider = fields.Dict()
    route = fields.String()
    user = fields.String()
    session_id = fields.String(validate=validate.Length(max=256))
    metadata = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)), values=fields.String(validate=validate.Length(max=512))
    )
    modalities = fields.List(fields.String())
    audio = fields.Dict()
    prediction = fields.Dict()
    verbosity = fields.String()
    web_search_options = fields.Dict()
    service_tier = fields.String()
    cache_control = fields.Dict()
    prompt_cache_key = fields.String()
    debug = fields.Dict()
