"""The Flask side of a model call (services/model_calls.py): the request's ModelCall, and the responses.

Shared by the inference blueprints (chat, vision, audio, tools, responses, messages, embeddings); it defines
no route.
"""

import time

from flask import Response, current_app, g, request

from core.metrics import FIRST_CHUNK, STREAMS
from schemas.media import media_request
from services import model_calls
from services.apis import CHAT
from upstream.streaming import DONE, relay
from webapp.auth import end_user_id
from webapp.composition import current_services

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What a model call can answer besides 200, for the OpenAPI document of each route that makes one.
MODEL_CALL_ERRORS = (400, 403, 413, 429, 502, 503, 504)


def answer(body, api=CHAT):
    """The model's answer to a validated body: streamed when it asks (`stream: true`), else whole."""
    return stream_response(body, api) if body.get("stream") is True else completion_response(body, api)


def media_answer(json_schema, form_schema, build_body, model_setting, size_setting):
    """A vision or audio call: the request's fields (JSON or multipart) made a chat body, and its answer."""
    data = media_request(json_schema, form_schema)
    cfg = current_app.config
    body = build_body(data, current_services().catalogue, cfg[model_setting], cfg[size_setting])
    return stream_response(body) if data["stream"] else summary_response(body)


def named_events_answer(description, events):
    """The OpenAPI 200 of an API that answers a JSON object, or named SSE events with `stream: true`."""
    content = {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": events}}
    return {200: {"description": description, "content": content}}


def this_call(api=CHAT):
    """The ModelCall of this request: its caller, forwarded headers and slot ticket, this app's client."""
    services = current_services()
    forwarded = {name: request.headers[name] for name in api.forward if name in request.headers}
    return model_calls.ModelCall(
        client=services.client,
        usage=services.usage,
        settings=current_app.config,
        user=g.user,
        end_user=end_user_id(g.user),
        forwarded=forwarded or None,
        ticket=g.get("call_ticket"),
    )


def complete(body, api=CHAT):
    """A non-streamed model call for this request: (raw bytes, parsed answer, seconds waited)."""
    return model_calls.complete(this_call(api), body, api)


def completion_response(body, api=CHAT):
    """A non-streamed answer: OpenRouter's body passed on unchanged, plus our headers."""
    content, completion, waited = complete(body, api)
    return _tag(Response(content, mimetype="application/json"), completion, waited)


def summary_response(body):
    """A non-streamed completion reduced to {id, model, provider, content, finish_reason, usage}."""
    _, completion, waited = complete(body)
    summary = model_calls.summarize(completion)
    return _tag(current_app.json.response(summary), completion, waited)


def stream_response(body, api=CHAT):
    """A streamed answer: headers first, then each upstream event as it arrives."""
    upstream, seen, waited = model_calls.open_stream(this_call(api), body, api)
    g.call_streamed = True  # the stream settles its call's ticket, not the view
    sock = request.environ.get("gunicorn.socket")
    events = relay(upstream, g.request_id, sock, on_data=seen.observe, dialect=api.dialect)
    response = Response(mimetype="text/event-stream", headers=SSE_HEADERS)
    response.response = _counted(response, events, seen, g.started)
    generation = upstream.headers.get("X-Generation-Id")
    if generation:
        response.headers["X-Generation-Id"] = generation
    response.headers["X-Gateway-Overhead-Ms"] = _overhead_ms(waited)
    return response


def _tag(response, completion, waited):
    response.headers["X-Generation-Id"] = completion.get("id") or ""
    response.headers["X-Gateway-Overhead-Ms"] = _overhead_ms(waited)
    return response


def _overhead_ms(upstream_wait):
    return f"{(time.perf_counter() - g.started - upstream_wait) * 1000:.2f}"


def _counted(response, events, seen, started):
    """Pass the relay through, counting bytes for the log line; record usage however the stream ends."""
    response.sent_bytes = 0
    STREAMS.inc()
    try:
        for chunk in events:
            if not response.sent_bytes:
                FIRST_CHUNK.observe(time.perf_counter() - started)
            response.sent_bytes += len(chunk)
            if seen.ended or chunk.endswith(DONE):
                seen.record()  # before the last event leaves: the caller's next call sees the slot free
            else:
                seen.keep_alive()
            yield chunk
    finally:
        STREAMS.dec()
        events.close()
        seen.record()
