"""Vision and audio requests: JSON and multipart schemas, and reading either kind of body into one shape."""

import re

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate
from werkzeug.datastructures import FileStorage

from core.errors import InvalidRequestError
from schemas.chat import Bool, ModelId, Number
from schemas.common import SSE_EVENT, json_body, validate_input
from services.media import AUDIO_FORMATS, IMAGE_TYPES
from services.media_requests import AUDIO_TASKS, IMAGE_DETAILS, MAX_IMAGES

MAX_FORM_INT = 2**31 - 1  # beyond any model's output limit, within every JSON parser's exact range
SEND_MEDIA = "Send the body as JSON ('Content-Type: application/json') or as multipart/form-data"
BINARY = {"type": "string", "format": "binary"}


class _Strict(Schema):
    """Unknown fields are refused, in JSON and in forms alike."""

    class Meta:
        unknown = RAISE


class Uploads(fields.Field):
    """The file parts sent under one multipart name, read into bytes; between `low` and `high` of them."""

    def __init__(self, low=1, high=1, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def _deserialize(self, value, attr, data, **kwargs):
        if not all(isinstance(part, FileStorage) for part in value):
            raise ValidationError(f"Must be sent as a file (curl: -F {attr}=@file).")
        if not self.low <= len(value) <= self.high:
            many = f"between {self.low} and {self.high} files" if self.high > 1 else "exactly one file"
            raise ValidationError(f"Send {many}; got {len(value)}.")
        return [part.read() for part in value]


class _JsonGeneration(_Strict):
    """Fields every JSON media request shares, strictly typed as in /chat/completions."""

    model = ModelId(metadata={"description": "defaults to the endpoint's default model"})
    max_tokens = fields.Integer(strict=True, validate=validate.Range(min=1))
    temperature = Number(validate=validate.Range(0, 2))
    stream = Bool(load_default=False)


class FormInteger(fields.Integer):
    """A whole number in a form field: ASCII digits only (int() would also take "1_000", " 7" or "٣") and
    bounded, so 2**64 is a 400 naming the field rather than a number nothing downstream can serialise."""

    DIGITS = re.compile(r"-?[0-9]{1,18}")

    def __init__(self, low, high, **kwargs):
        super().__init__(strict=False, validate=validate.Range(low, high), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not self.DIGITS.fullmatch(value):
            raise ValidationError("Not a valid integer (digits only, at most 18).")
        return int(value)


class FormNumber(fields.Float):
    """A decimal number in a form field, ASCII only (float() would also take "1_0", "inf" or "١٫٥")."""

    NUMBER = re.compile(r"-?[0-9]{1,6}(\.[0-9]{1,12})?")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not self.NUMBER.fullmatch(value):
            raise ValidationError("Not a valid number (digits and one decimal point, e.g. 0.7).")
        return float(value)


class _FormGeneration(_Strict):
    """The same fields in a form, where every value is a string to parse."""

    model = ModelId(metadata={"description": "defaults to the endpoint's default model"})
    max_tokens = FormInteger(1, MAX_FORM_INT)
    temperature = FormNumber(validate=validate.Range(0, 2))
    stream = fields.Boolean(load_default=False)


_PROMPT = {"required": True, "validate": validate.Length(min=1)}
_DETAIL = {"load_default": "auto", "validate": validate.OneOf(IMAGE_DETAILS)}
_TASK = {"load_default": "transcribe", "validate": validate.OneOf(AUDIO_TASKS)}
_URL_HELP = f"https:// or http:// URL, or data:<{'|'.join(IMAGE_TYPES)}>;base64,…"


class ImageSchema(_Strict):
    url = fields.String(required=True, metadata={"description": _URL_HELP})
    detail = fields.String(**_DETAIL)


class VisionRequestSchema(_JsonGeneration):
    """JSON vision request: a prompt about one to ten images."""

    prompt = fields.String(**_PROMPT)
    system = fields.String()
    images = fields.List(fields.Nested(ImageSchema), required=True, validate=validate.Length(1, MAX_IMAGES))


class VisionFormSchema(_FormGeneration):
    """multipart/form-data vision request: a prompt and one or more `image` files."""

    prompt = fields.String(**_PROMPT)
    system = fields.String()
    detail = fields.String(**_DETAIL)
    image = Uploads(1, MAX_IMAGES, required=True, metadata={"type": "array", "items": BINARY})

    @post_load
    def as_images(self, data, **kwargs):
        """The uploads in the JSON shape, each carrying its bytes instead of a URL."""
        detail = data.pop("detail")
        data["images"] = [{"upload": blob, "detail": detail} for blob in data.pop("image")]
        return data


class AudioDataSchema(_Strict):
    data = fields.String(required=True, metadata={"description": "raw base64, without a data: prefix"})
    format = fields.String(required=True, metadata={"enum": list(AUDIO_FORMATS)})


class AudioRequestSchema(_JsonGeneration):
    """JSON audio request: base64 audio and a task or prompt."""

    audio = fields.Nested(AudioDataSchema, required=True)
    task = fields.String(**_TASK)
    prompt = fields.String(validate=validate.Length(min=1), metadata={"description": "replaces the task's prompt"})


class AudioFormSchema(_FormGeneration):
    """multipart/form-data audio request: one `audio` file and a task or prompt."""

    audio = Uploads(required=True, metadata=BINARY)
    format = fields.String(metadata={"enum": list(AUDIO_FORMATS), "description": "must match the bytes"})
    task = fields.String(**_TASK)
    prompt = fields.String(validate=validate.Length(min=1), metadata={"description": "replaces the task's prompt"})

    @post_load
    def as_audio(self, data, **kwargs):
        """The upload in the JSON shape, carrying its bytes instead of base64."""
        data["audio"] = {"upload": data["audio"][0], "format": data.pop("format", None)}
        return data


class MediaAnswerSchema(Schema):
    """The answer of /vision and /audio."""

    id = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    content = fields.String(allow_none=True)
    finish_reason = fields.String(allow_none=True)
    usage = fields.Dict(allow_none=True)


def media_request(json_schema, form_schema):
    """The request's fields from a JSON body or a multipart form, validated; 400 for any other body."""
    if request.mimetype == "multipart/form-data":
        form, files = _parse_multipart()
        try:
            return validate_input(form_schema, _form_fields(form_schema, form, files), loaded=True)
        finally:
            for _, part in files.items(multi=True):
                part.close()  # big parts are spooled to temporary files; free them now, not at GC
    if request.is_json:
        return validate_input(json_schema, json_body(), loaded=True)
    raise InvalidRequestError(SEND_MEDIA)


def _form_fields(schema, form, files):
    """Text fields as strings; file fields (and any file part) as lists of parts, for the schema to judge."""
    data = form.to_dict()
    for name in set(form) | set(files):
        if name in files or isinstance(schema.fields.get(name), Uploads):
            data[name] = form.getlist(name) + files.getlist(name)
    return data


def _parse_multipart():
    """(form, files), parsed strictly: werkzeug's own parse would turn a malformed body into an empty form."""
    parser = request.make_form_data_parser()
    parser.silent = False
    try:
        _, form, files = parser.parse_from_environ(request.environ)
    except ValueError as exc:
        raise InvalidRequestError(f"The multipart/form-data body is malformed: {exc}") from None
    return form, files


ANSWER = {
    200: {
        "description": "The model's answer; with `stream` true, chat.completion.chunk events as in /chat/stream",
        "content": {"application/json": {"schema": MediaAnswerSchema}, "text/event-stream": {"schema": SSE_EVENT}},
    }
}
