"""Usage: the caller's own requests, tokens and cost by UTC day and model; every user's, for admins."""

from flask import Blueprint, current_app, g, jsonify, request

from schemas.common import validate_input
from schemas.usage import AdminUsageQuerySchema, UsageQuerySchema, UsageSchema, UsageSummarySchema
from webapp.auth import require_admin, require_user
from webapp.composition import current_services
from webapp.openapi import doc

bp = Blueprint("usage", __name__)
QUERY, ADMIN_QUERY = UsageQuerySchema(), AdminUsageQuerySchema()


@bp.get("/usage")
@doc(tags=["usage"], query=UsageQuerySchema, responses={200: UsageSchema}, errors=(400, 403, 503))
@require_user
def usage():
    """The caller's own totals for the last `days` UTC days, by day and by model (any user's, for admins)."""
    query = validate_input(QUERY, request.args.to_dict(), loaded=True)
    user = query.get("user", g.user)
    if user != g.user:
        require_admin()
    return jsonify(current_services().usage.report(user, query["days"]))


@bp.get("/admin/usage")
@doc(tags=["usage"], query=AdminUsageQuerySchema, responses={200: UsageSummarySchema}, errors=(400, 403, 503))
@require_user
def admin_usage():
    """Every user's totals for the last `days` UTC days, by cost, highest first (admins only)."""
    require_admin()
    query = validate_input(ADMIN_QUERY, request.args.to_dict(), loaded=True)
    summary = current_services().usage.summary(query["days"], query["limit"], _budget_for)
    return jsonify(summary)


def _budget_for(tier):
    """A tier's daily budget: its own `daily_budget_usd`, else USER_DAILY_BUDGET_USD (None: no budget)."""
    cfg = current_app.config
    return cfg["QUOTA_TIERS"].get(tier, {}).get("daily_budget_usd", cfg["USER_DAILY_BUDGET_USD"])
