"""The model catalogue's query filters, and its response shapes (for the OpenAPI document only)."""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from schemas.common import PassThroughSchema, validate_input
from services.catalogue import CAPABILITIES, TIERS, USE_CASES


class CapabilityList(fields.String):
    """A comma list of capability names (`vision,functions`), loaded as a tuple."""

    def _deserialize(self, value, attr, data, **kwargs):
        names = [name.strip() for name in super()._deserialize(value, attr, data, **kwargs).split(",")]
        unknown = [name for name in names if name not in CAPABILITIES]
        if unknown:
            raise ValidationError(
                f"Unknown capability {unknown[0]!r}; must be a comma list of: {', '.join(CAPABILITIES)}."
            )
        return tuple(dict.fromkeys(names))


class ModelListQuerySchema(Schema):
    """GET /models filters; every one given must match. Unknown parameters are ignored, as OpenAI's API does."""

    class Meta:
        unknown = EXCLUDE

    tier = fields.String(validate=validate.OneOf(TIERS), metadata={"description": "Premium tier"})
    capabilities = CapabilityList(
        data_key="capability",
        metadata={
            "description": f"Comma list of {', '.join(CAPABILITIES)}; a model must have all of them",
            "example": "vision,functions",
        },
    )
    q = fields.String(
        validate=validate.Length(max=200), metadata={"description": "Case-insensitive substring of the id or the name"}
    )
    # `True`/`False` too: that is how `requests` writes a Python bool into a query string.
    premium = fields.Boolean(
        truthy={"true", "True", "TRUE"},
        falsy={"false", "False", "FALSE"},
        error_messages={"invalid": "Must be true or false."},
        metadata={"description": "true: premium models only; false: the others"},
    )


MODEL_LIST_QUERY = ModelListQuerySchema()


def list_filters(args):
    """The filters in `args` (a MultiDict) as `ModelCatalogue.filter` keywords; 400 naming a bad one."""
    query = args.to_dict()
    if "capability" in query:  # `?capability=vision&capability=audio` means both, like the comma list
        query["capability"] = ",".join(args.getlist("capability"))
    return validate_input(MODEL_LIST_QUERY, query, loaded=True)


# --- responses: OpenRouter's model object (unknown and future fields allowed) plus the gateway's own ----------


class ArchitectureSchema(PassThroughSchema):
    modality = fields.String(allow_none=True)
    input_modalities = fields.List(fields.String(), allow_none=True)
    output_modalities = fields.List(fields.String(), allow_none=True)
    tokenizer = fields.String(allow_none=True)
    instruct_type = fields.String(allow_none=True)


class PricingSchema(PassThroughSchema):
    """USD per token (or per request, image, search) as decimal strings; routers use "-1"."""

    prompt = fields.String()
    completion = fields.String()


class TopProviderSchema(PassThroughSchema):
    context_length = fields.Integer(allow_none=True)
    max_completion_tokens = fields.Integer(allow_none=True)
    is_moderated = fields.Boolean(allow_none=True)


class CapabilitiesSchema(Schema):
    """The gateway's capability flags, from OpenRouter's fields (the built-in catalogue when absent)."""

    vision = fields.Boolean(required=True)
    audio = fields.Boolean(required=True)
    functions = fields.Boolean(required=True)
    streaming = fields.Boolean(required=True)
    max_context = fields.Integer(required=True)


class ModelSchema(PassThroughSchema):
    """OpenRouter's model object plus `object`/`owned_by` (OpenAI SDK), `tier`, `premium` and `capabilities`."""

    id = fields.String(required=True, metadata={"example": "anthropic/claude-sonnet-4.5"})
    object = fields.String(required=True, validate=validate.Equal("model"))
    owned_by = fields.String(required=True, metadata={"description": "The author part of the id"})
    created = fields.Integer()
    canonical_slug = fields.String(allow_none=True)
    hugging_face_id = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    context_length = fields.Integer(allow_none=True)
    architecture = fields.Nested(ArchitectureSchema)
    pricing = fields.Nested(PricingSchema)
    top_provider = fields.Nested(TopProviderSchema)
    per_request_limits = fields.Dict(allow_none=True)
    supported_parameters = fields.List(fields.String(), allow_none=True)
    default_parameters = fields.Dict(allow_none=True)
    expiration_date = fields.String(allow_none=True)
    tier = fields.String(required=True, allow_none=True, validate=validate.OneOf(TIERS))
    premium = fields.Boolean(required=True)
    capabilities = fields.Nested(CapabilitiesSchema, required=True)


class ModelListSchema(Schema):
    """OpenAI's list envelope, which `client.models.list()` reads."""

    object = fields.String(required=True, validate=validate.Equal("list"))
    data = fields.List(fields.Nested(ModelSchema), required=True)


class RecommendedModelSchema(ModelSchema):
    reason = fields.String(required=True, metadata={"description": "Why this model suits the use case"})


class RecommendationsSchema(Schema):
    use_case = fields.String(required=True, validate=validate.OneOf(list(USE_CASES)))
    models = fields.List(fields.Nested(RecommendedModelSchema), required=True)
