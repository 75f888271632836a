"""Vision: a prompt about one to ten images, forwarded as an ordinary chat completion."""

from flask import Blueprint, current_app

from auth import require_user
from blueprints.model_answers import stream_response, summary_response
from composition import current_services
from openapi import doc
from quotas import checks_daily_budget, holds_concurrency_slot, vision_quota
from schemas.media import ANSWER, VisionFormSchema, VisionRequestSchema, media_request
from services.media_requests import vision_body

bp = Blueprint("vision", __name__)
CONTENT = {"application/json": {"schema": VisionRequestSchema}, "multipart/form-data": {"schema": VisionFormSchema}}


@bp.post("/vision")
@doc(tags=["media"], content=CONTENT, responses=ANSWER, errors=(400, 403, 413, 429, 502, 503, 504))
@require_user
@vision_quota
@checks_daily_budget
@holds_concurrency_slot
def vision():
    """Ask a vision model about images: JSON with image URLs, or multipart `image` files."""
    data = media_request(VisionRequestSchema(), VisionFormSchema())
    cfg = current_app.config
    body = vision_body(data, current_services().catalogue, cfg["OPENROUTER_VISION_MODEL"], cfg["MAX_IMAGE_BYTES"])
    return stream_response(body) if data["stream"] else summary_response(body)
