"""OpenAI's embeddings request through OpenRouter's POST /embeddings."""

from flask import Blueprint

from blueprints.model_answers import MODEL_CALL_ERRORS, completion_response
from schemas.common import validate_input, validated, validated_body
from schemas.inference_apis import EmbeddingsRequestSchema
from services.apis import EMBEDDINGS_API
from webapp.auth import require_user
from webapp.openapi import doc
from webapp.quotas import checks_daily_budget, embeddings_quota, holds_concurrency_slot

bp = Blueprint("embeddings", __name__)
EMBEDDINGS_REQUEST = EmbeddingsRequestSchema()
ANSWER = {
    200: {
        "description": 'OpenRouter\'s {"object": "list", "data": [embedding, …], "model", "usage"}, unchanged',
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def check_embeddings(body):
    """The embeddings body checked field by field (input: not empty, at most 2048 items, no empty string)."""
    return validate_input(EMBEDDINGS_REQUEST, body, present_only=True)


@bp.post("/embeddings")
@doc(tags=["embeddings"], body=EmbeddingsRequestSchema, responses=ANSWER, errors=MODEL_CALL_ERRORS)
@require_user
@validated_body(check_embeddings)
@embeddings_quota
@checks_daily_budget
@holds_concurrency_slot
def create():
    """Create embedding vectors for one or more inputs."""
    return completion_response(validated(), EMBEDDINGS_API)
