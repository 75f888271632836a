"""Chat completions, plain and streamed (SSE)."""

from flask import Blueprint

from blueprints.model_answers import MODEL_CALL_ERRORS, answer, stream_response
from schemas.chat import ChatRequestSchema
from schemas.common import SSE_EVENT, validate_input, validated, validated_body
from webapp.auth import require_user
from webapp.openapi import doc
from webapp.quotas import chat_quota, checks_daily_budget, holds_concurrency_slot, streaming_quota

bp = Blueprint("chat", __name__)
CHAT_REQUEST = ChatRequestSchema()
SSE = {
    200: {
        "description": "Server-sent events: chat.completion.chunk data events, then [DONE]",
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    }
}
COMPLETION = {
    200: {
        "description": "OpenRouter's chat.completion, unchanged (or SSE with stream: true)",
        "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": SSE_EVENT}},
    }
}


def check_chat(body):
    """The chat body checked field by field; refused before any quota is drawn."""
    return validate_input(CHAT_REQUEST, body, present_only=True)


@bp.post("/chat/completions")
@doc(tags=["chat"], body=ChatRequestSchema, responses=COMPLETION, errors=MODEL_CALL_ERRORS)
@require_user
@validated_body(check_chat)
@chat_quota
@checks_daily_budget
@holds_concurrency_slot
def completions():
    """Create a chat completion (streamed as SSE when `stream` is true)."""
    return answer(validated())


@bp.post("/chat/stream")
@doc(tags=["chat"], body=ChatRequestSchema, responses=SSE, errors=MODEL_CALL_ERRORS)
@require_user
@validated_body(check_chat)
@streaming_quota
@checks_daily_budget
@holds_concurrency_slot
def stream():
    """Stream a chat completion as server-sent events."""
    return stream_response(validated())
