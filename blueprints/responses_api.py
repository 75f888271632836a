"""OpenAI's Responses API through OpenRouter's POST /responses, plain and streamed (named SSE events)."""

from flask import Blueprint

from auth import require_user
from inference import completion_response, stream_response
from openapi import doc
from quotas import chat_quota, concurrency_slot
from schemas.common import load_present, validated, validated_body
from schemas.inference_apis import ResponsesRequestSchema
from services.apis import RESPONSES_API

bp = Blueprint("responses", __name__)
RESPONSES_REQUEST = ResponsesRequestSchema()
NAMED_EVENTS = {
    "type": "string",
    "description": "Responses' named events (event: response.created, response.output_text.delta, …, "
    "response.completed), relayed as they arrive; a failure after the first byte is one `event: error`",
}
ANSWER = {
    200: {
        "description": "OpenRouter's Responses object, unchanged (or its named SSE events with stream: true)",
        "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": NAMED_EVENTS}},
    }
}
ERRORS = (400, 403, 413, 429, 502, 503, 504)


def check_responses(body):
    """The Responses body checked field by field (store: true and previous_response_id are 400)."""
    return load_present(RESPONSES_REQUEST, body)


@bp.post("/responses")
@doc(tags=["responses"], body=ResponsesRequestSchema, responses=ANSWER, errors=ERRORS)
@require_user
@validated_body(check_responses)
@chat_quota
@concurrency_slot
def create():
    """Create a model response (OpenAI's Responses API; streamed as named SSE events when `stream` is true)."""
    body = validated()
    if body.get("stream") is True:
        return stream_response(body, RESPONSES_API)
    return completion_response(body, RESPONSES_API)
