"""Usage report: the query and the answer."""

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.common import TokenCountsSchema


class UsageQuerySchema(Schema):
    """`days`; other query parameters are ignored, as OpenAI's API does."""

    class Meta:
        unknown = EXCLUDE

    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90))
    user = fields.String(validate=validate.Length(min=1, max=512))  # another user's: admins only


class AdminUsageQuerySchema(Schema):
    """`days` and `limit` (users in the answer, by cost)."""

    class Meta:
        unknown = EXCLUDE

    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class UsageRowSchema(TokenCountsSchema):
    requests = fields.Integer()


class UsageDaySchema(UsageRowSchema):
    date = fields.String()
    models = fields.Dict(keys=fields.String(), values=fields.Nested(UsageRowSchema))


class UsageSchema(Schema):
    object = fields.String()
    user = fields.String()
    days = fields.Integer()
    totals = fields.Nested(UsageRowSchema)
    daily = fields.List(fields.Nested(UsageDaySchema))


class UserUsageSchema(Schema):
    user = fields.String()
    tier = fields.String(allow_none=True)
    totals = fields.Nested(UsageRowSchema)
    budget_usd = fields.Float(allow_none=True)
    budget_left_usd = fields.Float(allow_none=True)


class UsageSummarySchema(Schema):
    object = fields.String()
    days = fields.Integer()
    totals = fields.Nested(UsageRowSchema)
    users = fields.List(fields.Nested(UserUsageSchema))
