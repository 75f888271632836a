"""Chat bodies for /vision and /audio, built from their validated input (API.md "Vision and audio")."""

from core.errors import InvalidRequestError
from services import media

MAX_IMAGES = 10
IMAGE_DETAILS = ("auto", "low", "high")
TASK_PROMPTS = {
    "transcribe": "Transcribe the speech in this audio verbatim, in its original language. "
    "Answer with the transcript only.",
    "translate": "Translate the speech in this audio into English. Answer with the translation only.",
    "summarize": "Summarize this audio: who speaks, what is said, and the main points, briefly.",
    "analyze": "Analyze this audio: the language, speakers, tone and content, and any notable sounds or music.",
}
AUDIO_TASKS = tuple(TASK_PROMPTS)
INPUT_KIND = {"vision": "image", "audio": "audio"}
# Enough to choose from without turning the message into OpenRouter's whole list.
SHOWN_MODELS = 12


def require_input(catalogue, model, capability):
    """Refuse (400) a model that lacks the input modality, or that the catalogue does not know, before any call."""
    supported = catalogue.supports(model, capability)
    if supported:
        return
    kind = INPUT_KIND[capability]
    problem = "is not in the model catalogue" if supported is None else f"does not accept {kind} input"
    capable = catalogue.capable_models(capability)
    listed = ", ".join(capable[:SHOWN_MODELS]) or "none right now"
    if len(capable) > SHOWN_MODELS:
        listed += f" and {len(capable) - SHOWN_MODELS} more (GET /models?capability={capability})"
    message = f"Model {model} {problem}; models that accept {kind} input: {listed}"
    raise InvalidRequestError(message, details={"model": [f"Must be a model that accepts {kind} input."]})


def _image_part(image, index, max_bytes):
    """One image_url content part: a caller's URL (checked, never fetched) or an upload as a data URL."""
    if "upload" in image:
        url = media.image_data_url(image["upload"], f"image.{index}", max_bytes)
    else:
        url = media.image_url_part(image["url"], f"images.{index}.url", max_bytes)
    return {"type": "image_url", "image_url": {"url": url, "detail": image["detail"]}}


def _audio_part(audio, max_bytes):
    """The input_audio content part, its format taken from the bytes (a declared one must agree)."""
    if "upload" in audio:
        checked = media.audio_upload_part(audio["upload"], audio["format"], "audio", max_bytes)
    else:
        checked = media.audio_part(audio["data"], audio["format"], "audio.data", max_bytes)
    return {"type": "input_audio", "input_audio": checked}


def _chat_body(data, model, messages):
    """The chat request: the model, the messages, and the caller's generation settings."""
    body = {"model": model, "messages": messages}
    body.update({name: data[name] for name in ("max_tokens", "temperature") if name in data})
    return body


def vision_body(data, catalogue, default_model, max_image_bytes):
    """The chat body for a vision request: text part first, then one image_url part per image."""
    model = data.get("model") or default_model
    require_input(catalogue, model, "vision")
    images = [_image_part(image, i, max_image_bytes) for i, image in enumerate(data["images"])]
    messages = [{"role": "system", "content": data["system"]}] if data.get("system") else []
    messages.append({"role": "user", "content": [{"type": "text", "text": data["prompt"]}, *images]})
    return _chat_body(data, model, messages)


def audio_body(data, catalogue, default_model, max_audio_bytes):
    """The chat body for an audio request: the prompt (or the task's) first, then the input_audio part."""
    model = data.get("model") or default_model
    require_input(catalogue, model, "audio")
    text = data.get("prompt") or TASK_PROMPTS[data["task"]]
    content = [{"type": "text", "text": text}, _audio_part(data["audio"], max_audio_bytes)]
    return _chat_body(data, model, [{"role": "user", "content": content}])
