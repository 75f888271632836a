"""OpenAI's Responses API through OpenRouter's POST /responses, plain and streamed (named SSE events)."""

from flask import Blueprint

from blueprints.model_answers import MODEL_CALL_ERRORS, answer, named_events_answer
from schemas.common import validate_input, validated, validated_body
from schemas.inference_apis import ResponsesRequestSchema
from services.apis import RESPONSES_API
from webapp.auth import require_user
from webapp.openapi import doc
from webapp.quotas import chat_quota, checks_daily_budget, holds_concurrency_slot

bp = Blueprint("responses", __name__)
RESPONSES_REQUEST = ResponsesRequestSchema()
NAMED_EVENTS = {
    "type": "string",
    "description": "Responses' named events (event: response.created, response.output_text.delta, …, "
    "response.completed), relayed as they arrive; a failure after the first byte is one `event: error`",
}
ANSWER = named_events_answer(
    "OpenRouter's Responses object, unchanged (or its named SSE events with stream: true)", NAMED_EVENTS
)


def check_responses(body):
    """The Responses body checked field by field (store: true and previous_response_id are 400)."""
    return validate_input(RESPONSES_REQUEST, body, present_only=True)


@bp.post("/responses")
@doc(tags=["responses"], body=ResponsesRequestSchema, responses=ANSWER, errors=MODEL_CALL_ERRORS)
@require_user
@validated_body(check_responses)
@chat_quota
@checks_daily_budget
@holds_concurrency_slot
def create():
    """Create a model response (OpenAI's Responses API; streamed as named SSE events when `stream` is true)."""
    return answer(validated(), RESPONSES_API)
