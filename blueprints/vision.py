"""Vision: a prompt about one to ten images, forwarded as an ordinary chat completion."""

from flask import Blueprint

from blueprints.model_answers import MODEL_CALL_ERRORS, media_answer
from schemas.media import ANSWER, VisionFormSchema, VisionRequestSchema
from services.media_requests import vision_body
from webapp.auth import require_user
from webapp.openapi import doc
from webapp.quotas import checks_daily_budget, holds_concurrency_slot, vision_quota

bp = Blueprint("vision", __name__)
CONTENT = {"application/json": {"schema": VisionRequestSchema}, "multipart/form-data": {"schema": VisionFormSchema}}


@bp.post("/vision")
@doc(tags=["media"], content=CONTENT, responses=ANSWER, errors=MODEL_CALL_ERRORS)
@require_user
@vision_quota
@checks_daily_budget
@holds_concurrency_slot
def vision():
    """Ask a vision model about images: JSON with image URLs, or multipart `image` files."""
    schemas = VisionRequestSchema(), VisionFormSchema()
    return media_answer(*schemas, vision_body, "OPENROUTER_VISION_MODEL", "MAX_IMAGE_BYTES")
