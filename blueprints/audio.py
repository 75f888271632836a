"""Audio: transcribe, translate, summarize or analyze a clip, forwarded as an ordinary chat completion."""

from flask import Blueprint

from blueprints.model_answers import MODEL_CALL_ERRORS, media_answer
from schemas.media import ANSWER, AudioFormSchema, AudioRequestSchema
from services.media_requests import audio_body
from webapp.auth import require_user
from webapp.openapi import doc
from webapp.quotas import audio_quota, checks_daily_budget, holds_concurrency_slot

bp = Blueprint("audio", __name__)
CONTENT = {"application/json": {"schema": AudioRequestSchema}, "multipart/form-data": {"schema": AudioFormSchema}}


@bp.post("/audio")
@doc(tags=["media"], content=CONTENT, responses=ANSWER, errors=MODEL_CALL_ERRORS)
@require_user
@audio_quota
@checks_daily_budget
@holds_concurrency_slot
def audio():
    """Transcribe, translate, summarize or analyze audio: JSON base64, or a multipart `audio` file."""
    return media_answer(
        AudioRequestSchema(), AudioFormSchema(), audio_body, "OPENROUTER_AUDIO_MODEL", "MAX_AUDIO_BYTES"
    )
