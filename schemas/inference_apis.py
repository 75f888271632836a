"""The Responses, Messages and Embeddings requests: the fields the gateway acts on are checked, the rest pass.

Like chat, a top-level field not declared here goes to OpenRouter untouched (it ignores what it does not
know, and each SDK adds fields); inner objects (input items, content blocks, tools) are OpenRouter's to check.
"""

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from schemas.chat import Bool, ModelId, Number

MAX_EMBEDDING_INPUTS = 2048
STATELESS = "OpenRouter's Responses API is stateless: send the whole conversation in `input`"


def _range(low=None, high=None):
    return validate.Range(min=low, max=high)


class ObjectList(fields.Field):
    """A list of JSON objects (input items, messages, content blocks, tools), each left as given."""

    def __init__(self, min_items=0, **kwargs):
        super().__init__(**kwargs)
        self.min_items = min_items

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        if len(value) < self.min_items:
            raise ValidationError(f"Must hold at least {self.min_items} item(s).")
        bad = {i: ["Must be an object."] for i, item in enumerate(value) if not isinstance(item, dict)}
        if bad:
            raise ValidationError(bad)
        return value


class TextOrObjects(ObjectList):
    """A non-empty string, or a list of objects (Responses' `input`, Anthropic's `system` and `content`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value:
                raise ValidationError("Must not be empty.")
            return value
        if not isinstance(value, list):
            raise ValidationError("Must be a string or a list of objects.")
        return super()._deserialize(value, attr, data, **kwargs)


class Refused(fields.Field):
    """A field the upstream cannot honour: refused with `message` unless it is absent, null or `allowed`."""

    def __init__(self, message, allowed=(), **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.message, self.allowed = message, allowed

    def _deserialize(self, value, attr, data, **kwargs):
        if value is not None and not any(value is ok for ok in self.allowed):
            raise ValidationError(self.message)
        return value


class ChoiceOrObject(fields.Field):
    """A `tool_choice`: one of the given strings, or an object."""

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        if value in self.choices or isinstance(value, dict):
            return value
        raise ValidationError(f"Must be one of: {', '.join(self.choices)}, or an object.")


class ResponsesRequestSchema(Schema):
    """OpenAI's Responses request as OpenRouter serves it (stateless)."""

    class Meta:
        unknown = INCLUDE

    model = ModelId()
    models = fields.List(ModelId(), validate=validate.Length(min=1, max=3))
    input = TextOrObjects(min_items=1, required=True)
    instructions = fields.String(allow_none=True)
    stream = Bool()
    max_output_tokens = fields.Integer(strict=True, validate=_range(1))
    temperature = Number(validate=_range(0, 2))
    top_p = Number(validate=_range(0, 1))
    tools = ObjectList()
    tool_choice = ChoiceOrObject(("none", "auto", "required"))
    parallel_tool_calls = Bool()
    text = fields.Dict()
    reasoning = fields.Dict()
    metadata = fields.Dict()
    provider = fields.Dict()
    user = fields.String()
    store = Refused(f"store must be false or absent: {STATELESS}.", allowed=(False,))
    previous_response_id = Refused(f"previous_response_id is not supported: {STATELESS}.")


class MessagesRequestSchema(Schema):
    """Anthropic's Messages request as OpenRouter serves it."""

    class Meta:
        unknown = INCLUDE

    model = ModelId()
    models = fields.List(ModelId(), validate=validate.Length(min=1, max=3))
    messages = ObjectList(min_items=1, required=True)
    system = TextOrObjects()
    max_tokens = fields.Integer(strict=True, validate=_range(1))
    stream = Bool()
    temperature = Number(validate=_range(0, 1))
    top_p = Number(validate=_range(0, 1))
    top_k = fields.Integer(strict=True, validate=_range(0))
    stop_sequences = fields.List(fields.String())
    tools = ObjectList()
    tool_choice = fields.Dict()
    metadata = fields.Dict()
    thinking = fields.Dict()
    provider = fields.Dict()


class EmbeddingInput(fields.Field):
    """A string, a list of 1..2048 non-empty strings, a token list, or a list of 1..2048 non-empty token lists."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value:
                raise ValidationError("Must not be an empty string.")
            return value
        if not isinstance(value, list) or not value:
            raise ValidationError("Must be a non-empty string, or a non-empty list of strings or token lists.")
        if len(value) > MAX_EMBEDDING_INPUTS:
            raise ValidationError(f"At most {MAX_EMBEDDING_INPUTS} inputs per request.")
        if all(_is_token(item) for item in value):
            return value
        errors = {i: [problem] for i, item in enumerate(value) if (problem := _item_problem(item))}
        if errors:
            raise ValidationError(errors)
        return value


def _is_token(item):
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0


def _item_problem(item):
    if isinstance(item, str):
        return None if item else "Must not be an empty string."
    if isinstance(item, list) and item and all(_is_token(t) for t in item):
        return None
    return "Must be a non-empty string or a non-empty list of token ids."


class EmbeddingsRequestSchema(Schema):
    """OpenAI's embeddings request as OpenRouter serves it."""

    class Meta:
        unknown = INCLUDE

    model = ModelId()
    input = EmbeddingInput(required=True)
    dimensions = fields.Integer(strict=True, validate=_range(1))
    encoding_format = fields.String(validate=validate.OneOf(("float", "base64")))
    user = fields.String()
    provider = fields.Dict()
