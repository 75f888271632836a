"""Prometheus metrics, behind a bearer token when METRICS_TOKEN is set."""

import hmac

from flask import Blueprint, current_app, request

from core.errors import AuthenticationError
from core.metrics import exposition
from webapp.openapi import doc

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@doc(
    auth=False,
    tags=["operations"],
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
def metrics():
    """Prometheus metrics of every worker."""
    expected = current_app.config["METRICS_TOKEN"]
    if expected:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise AuthenticationError("Send 'Authorization: Bearer <METRICS_TOKEN>' to read metrics")
    body, content_type = exposition()
    return current_app.response_class(body, content_type=content_type)
