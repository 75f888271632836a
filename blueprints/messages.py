"""Anthropic's Messages API through OpenRouter's POST /messages, also as /v1/messages for Anthropic's clients.

Anthropic's SDKs and Claude Code send the key as `x-api-key` and append `/v1/messages` to their base URL;
errors here are in Anthropic's envelope, so those clients raise the right exception class.
"""

from flask import Blueprint, g, request

from blueprints.model_answers import MODEL_CALL_ERRORS, answer, named_events_answer
from schemas.common import validate_input, validated, validated_body
from schemas.inference_apis import MessagesRequestSchema
from services.apis import MESSAGES_API
from webapp.auth import require_user
from webapp.openapi import doc
from webapp.quotas import chat_quota, checks_daily_budget, holds_concurrency_slot

bp = Blueprint("messages", __name__)
MESSAGES_REQUEST = MessagesRequestSchema()
NAMED_EVENTS = {
    "type": "string",
    "description": "Anthropic's named events (message_start, content_block_delta, …, message_stop) relayed as "
    "they arrive; a failure after the first byte is one `event: error` in Anthropic's envelope",
}
ANSWER = named_events_answer(
    "OpenRouter's Anthropic message, unchanged (or its named SSE events with stream: true)", NAMED_EVENTS
)


@bp.before_request
def anthropic_conventions():
    """Errors in Anthropic's envelope; the JWT accepted as `x-api-key` when no Authorization header is sent."""
    g.anthropic_errors = True
    key = request.headers.get("x-api-key")
    if key and "HTTP_AUTHORIZATION" not in request.environ:
        request.environ["HTTP_AUTHORIZATION"] = f"Bearer {key.strip()}"


def check_messages(body):
    """The Messages body checked field by field."""
    return validate_input(MESSAGES_REQUEST, body, present_only=True)


@bp.post("/messages")
@bp.post("/v1/messages")
@doc(tags=["messages"], body=MessagesRequestSchema, responses=ANSWER, errors=MODEL_CALL_ERRORS, anthropic=True)
@require_user
@validated_body(check_messages)
@chat_quota
@checks_daily_budget
@holds_concurrency_slot
def create():
    """Create a message (Anthropic's Messages API; streamed as named SSE events when `stream` is true)."""
    return answer(validated(), MESSAGES_API)
