"""Audio: transcribe, translate, summarize or analyze a clip, forwarded as an ordinary chat completion."""

from flask import Blueprint, current_app

from auth import require_user
from blueprints.model_answers import stream_response, summary_response
from composition import current_services
from openapi import doc
from quotas import audio_quota, checks_daily_budget, holds_concurrency_slot
from schemas.media import ANSWER, AudioFormSchema, AudioRequestSchema, media_request
from services.media_requests import audio_body

bp = Blueprint("audio", __name__)
CONTENT = {"application/json": {"schema": AudioRequestSchema}, "multipart/form-data": {"schema": AudioFormSchema}}


@bp.post("/audio")
@doc(tags=["media"], content=CONTENT, responses=ANSWER, errors=(400, 403, 413, 429, 502, 503, 504))
@require_user
@audio_quota
@checks_daily_budget
@holds_concurrency_slot
def audio():
    """Transcribe, translate, summarize or analyze audio: JSON base64, or a multipart `audio` file."""
    data = media_request(AudioRequestSchema(), AudioFormSchema())
    cfg = current_app.config
    body = audio_body(data, current_services().catalogue, cfg["OPENROUTER_AUDIO_MODEL"], cfg["MAX_AUDIO_BYTES"])
    return stream_response(body) if data["stream"] else summary_response(body)
