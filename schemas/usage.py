"""Usage report: the query and the answer."""

from marshmallow import EXCLUDE, Schema, fields, validate


class UsageQuerySchema(Schema):
    """`days`; other query parameters are ignored, as OpenAI's API does."""

    class Meta:
        unknown = EXCLUDE

    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90))


class UsageRowSchema(Schema):
    requests = fields.Integer()
    prompt_tokens = fields.Integer()
    completion_tokens = fields.Integer()
    cost = fields.Float()


class UsageDaySchema(UsageRowSchema):
    date = fields.String()
    models = fields.Dict(keys=fields.String(), values=fields.Nested(UsageRowSchema))


class UsageSchema(Schema):
    object = fields.String()
    user = fields.String()
    days = fields.Integer()
    totals = fields.Nested(UsageRowSchema)
    daily = fields.List(fields.Nested(UsageDaySchema))
