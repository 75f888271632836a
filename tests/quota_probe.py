"""Routes that only the test configuration registers, to exercise quotas before real endpoints use them."""

from flask import Blueprint, current_app, jsonify
from flask_jwt_extended import get_jwt_identity, jwt_required
from marshmallow import Schema, fields

from schemas.common import json_body, validate_input
from webapp.auth import require_user
from webapp.quotas import chat_quota, checks_daily_budget, embeddings_quota, holds_concurrency_slot

bp = Blueprint("quota_probe", __name__)


@bp.post("/_test/quota")
@require_user
@chat_quota
@checks_daily_budget
@holds_concurrency_slot
def quota():
    """Counts against the chat bucket."""
    return jsonify(ok=True)


@bp.get("/_test/hold")
@require_user
@checks_daily_budget
@holds_concurrency_slot
def hold():
    """A stream that holds a concurrency slot until the client closes it."""

    def chunks():
        yield b"one\n"
        yield b"two\n"

    return chunks(), 200, {"Content-Type": "text/plain"}


@bp.get("/_test/crash")
def crash():
    """A bug: the handler must answer 500 without a traceback."""
    raise RuntimeError(f"secret internals {current_app.config['OPENROUTER_API_KEY']} must not leak")


class EchoSchema(Schema):
    name = fields.String(required=True)
    items = fields.List(fields.Nested(Schema.from_dict({"n": fields.Integer(required=True)})))


@bp.post("/_test/echo")
@require_user
def echo():
    """Validates a JSON body and echoes it."""
    return jsonify(validate_input(EchoSchema(), json_body()))


@bp.get("/_test/jwt-required")
@jwt_required()
def library_protected():
    """A route guarded by flask-jwt-extended's own decorator: its failures must be our 401 envelope too."""
    return jsonify(sub=get_jwt_identity())


@bp.get("/_test/jwt-fresh")
@jwt_required(fresh=True)
def library_fresh():
    """Needs a fresh token (the library's needs-fresh loader)."""
    return jsonify(ok=True)


@bp.post("/_test/embeddings-quota")
@require_user
@embeddings_quota
def embeddings_probe():
    """Counts against the embeddings bucket (its routes belong to another module)."""
    return jsonify(ok=True)
