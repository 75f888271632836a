"""The caller's own usage: requests, tokens and cost by UTC day and model."""

from flask import Blueprint, current_app, g, jsonify, request

from auth import require_user
from openapi import doc
from schemas.common import load
from schemas.usage import UsageQuerySchema, UsageSchema

bp = Blueprint("usage", __name__)
QUERY = UsageQuerySchema()


@bp.get("/usage")
@doc(tags=["usage"], query=UsageQuerySchema, responses={200: UsageSchema}, errors=(400, 503))
@require_user
def usage():
    """The caller's own totals for the last `days` UTC days, by day and by model."""
    days = QUERY.load(load(QUERY, request.args.to_dict()))["days"]
    return jsonify(current_app.extensions["usage"].report(g.user, days))
