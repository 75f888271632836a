"""Request body parsing shared by every view, and the schemas every module uses."""

from functools import wraps

import orjson
from flask import current_app, g, request
from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields

from core.errors import ApiError, InvalidRequestError, RequestTooLargeError, validation_error
from services.cooperative import BIG_STEP_BYTES, cooperate

SEND_JSON = "Send the body as JSON with 'Content-Type: application/json'"
# Objects and arrays inside one body. Pass-through JSON (provider, message extras, tool parameters, content
# parts, tool outputs) is re-serialised with orjson, which refuses more than 254 levels: the gateway's own
# wrappers (tool sessions, the upstream request) must stay far below that, and no real request comes near 64.
MAX_JSON_DEPTH = 64
ORJSON_MAX_DEPTH = 254  # orjson.dumps refuses anything deeper
_FREE_WRAPPERS = {}  # depth → wrappers not in use (list.pop and append are atomic: safe for threads and greenlets)


def json_body():
    """The request body as a JSON object, parsed once per request; 400 for anything else."""
    body = g.get("json_body")
    if body is None:
        if not request.is_json:
            raise InvalidRequestError(SEND_JSON)
        raw = _body_bytes()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequestError("Request body is not valid JSON") from None
        if len(raw) > BIG_STEP_BYTES:
            cooperate()  # parsing 20 MB took ~20 ms: let the worker's streams run before the next long step
        if not isinstance(body, dict):
            raise InvalidRequestError("Request body must be a JSON object")
        if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:  # fewer openings cannot nest that deep
            check_nesting(body)
        g.json_body = body
    return body


def check_nesting(body, limit=MAX_JSON_DEPTH):
    """400 naming the field where `body` nests objects/arrays more than `limit` levels deep (the body is 1)."""
    if _within(body, limit):
        return
    path = _too_deep_at(body, limit)
    field = ".".join(str(part) for part in path) + (".…" if len(path) == 4 else "")
    problem = f"Nested more than {limit} levels deep (objects and arrays)."
    raise InvalidRequestError(f"{field}: {problem}", details={field: [problem]})


def _within(value, levels):
    """True when `value` nests at most `levels` containers, itself included.

    orjson's C walk does the counting (a Python walk costs ~100 µs on a 50-message chat, and seconds on a body
    of millions of tiny arrays): wrapped in enough lists to bring the limit up to orjson's own, it serialises
    exactly when the value is shallow enough. JSON from orjson.loads has nothing else orjson.dumps can refuse.
    """
    count = ORJSON_MAX_DEPTH - levels
    free = _FREE_WRAPPERS.setdefault(count, [])
    try:
        outer, inner = free.pop()
    except IndexError:
        outer, inner = _wrapper(count)
    inner.append(value)
    try:
        orjson.dumps(outer)
    except orjson.JSONEncodeError:
        return False
    finally:
        inner.clear()
        free.append((outer, inner))
    return True


def _wrapper(count):
    """`count` nested lists: (outermost, innermost)."""
    outer = inner = []
    for _ in range(max(0, count - 1)):
        inner.append([])
        inner = inner[0]
    return outer, inner


def _too_deep_at(body, limit):
    """The first keys (at most 4) on the way to the part of `body` that nests too deep, one level at a time."""
    path, value = [], body
    while len(path) < 4:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        levels = limit - len(path) - 1  # what each child of `value` may still hold
        deep = next((kv for kv in items if isinstance(kv[1], dict | list) and not _within(kv[1], levels)), None)
        if deep is None:
            break
        path.append(deep[0])
        value = deep[1]
    return path


def _body_bytes():
    """The raw body; a chunked upload (no Content-Length) over MAX_CONTENT_LENGTH is 413, not a cut-off body."""
    if request.content_length is None:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        data = request.stream.read(limit + 1)
        # werkzeug may cap the stream at the limit (then a further read raises its 413) or hand it over as is.
        if len(data) > limit or (len(data) == limit and request.stream.read(1)):
            raise RequestTooLargeError("Request body is too large")
        return data
    return request.get_data(cache=True)


def wants_stream():
    """True when the body asks for a stream (JSON `"stream": true`, or a form field `stream=true`)."""
    if request.mimetype == "multipart/form-data":
        return request.form.get("stream", "").lower() in {"1", "true", "yes", "on"}
    try:
        return json_body().get("stream") is True
    except ApiError:
        return False  # the view answers the bad (or too large) body itself


def validate_input(schema, data, *, present_only=False, loaded=False):
    """The one validation entry point: `data` checked by `schema`, our 400 with dotted-path details if not.

    Returns `data` as sent (the gateway forwards what the caller sent), or with `loaded` what marshmallow
    loaded (defaults filled in, values converted). `present_only` checks only the keys `data` has (see
    `field_errors`): for schemas whose every rule sits on a field, like the chat schema with its ~45 fields.
    """
    if present_only:
        errors = field_errors(schema, data, unknown_allowed=schema.opts.unknown != RAISE)
        if errors:
            raise validation_error(errors)
        return data
    try:
        result = schema.load(data)
    except ValidationError as exc:
        raise validation_error(exc.messages) from None
    return result if loaded else data


def field_errors(schema, data, unknown_allowed=False):
    """marshmallow's field checks for the keys `data` has, without a full `load` (its fixed cost per object
    is most of the time spent on a long conversation). Schema-level validators are the caller's to run."""
    if not isinstance(data, dict):
        return {"_schema": ["Invalid input type."]}
    errors, declared = {}, schema.load_fields
    for key, value in data.items():
        field = declared.get(key)
        if field is None:
            if not unknown_allowed:
                errors[key] = ["Unknown field."]
            continue
        try:
            field.deserialize(value, key, data)
        except ValidationError as exc:
            errors[key] = exc.messages
    for name, field in declared.items():
        if field.required and name not in data:
            errors[name] = ["Missing data for required field."]
    return errors


def validated_body(check):
    """Decorator: parse and check the JSON body before the decorators below it run, and pass it to the view.

    Stacked above a quota decorator, a request refused with 400 never takes a rate-limit slot.
    `check(body)` returns the body to pass on or raises our 400.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(**kwargs):
            g.validated_body = check(json_body())
            return view(**kwargs) if kwargs else view()  # a plain call when it can (webapp/auth.py)

        return wrapper

    return decorator


def validated():
    """The body checked by `validated_body` for this request."""
    return g.validated_body


class PassThroughSchema(Schema):
    """An object the gateway does not interpret: unknown keys pass through untouched."""

    class Meta:
        unknown = INCLUDE


class TokenCountsSchema(Schema):
    """Tokens and cost of model calls, as usage reports and tool runs count them."""

    prompt_tokens = fields.Integer()
    completion_tokens = fields.Integer()
    cost = fields.Float()


class ErrorBodySchema(Schema):
    code = fields.Integer(required=True)
    type = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    request_id = fields.String(allow_none=True)


class ErrorSchema(Schema):
    """API.md's error envelope."""

    error = fields.Nested(ErrorBodySchema, required=True)


class AnthropicErrorBodySchema(Schema):
    type = fields.String(required=True)
    message = fields.String(required=True)


class AnthropicErrorSchema(Schema):
    """Anthropic's error envelope, which the /messages route answers so that Anthropic's SDKs understand it."""

    type = fields.String(required=True, metadata={"enum": ["error"]})
    error = fields.Nested(AnthropicErrorBodySchema, required=True)
    request_id = fields.String(allow_none=True)


# One server-sent event of a relayed stream: `data:` carries a chat.completion.chunk, our error envelope, or
# `[DONE]`; comment lines (keep-alives) are not events.
SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
    "description": 'data: a chat.completion.chunk JSON, an {"error": …} envelope, or [DONE]',
}
