"""Sending a chat request upstream and answering with OpenRouter's completion or its relayed stream."""

import time

import orjson
from flask import Response, current_app, g, request

from auth import end_user_id
from errors import NO_RETRY, UpstreamError
from services.chat import upstream_request
from upstream.errors import describe
from upstream.streaming import relay

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def prepare(body):
    """The upstream JSON bytes for a validated chat body."""
    cfg = current_app.config
    return orjson.dumps(upstream_request(body, cfg, end_user_id(g.user)))


def _overhead_ms(upstream_wait):
    return f"{(time.perf_counter() - g.started - upstream_wait) * 1000:.2f}"


def complete(body):
    """Call OpenRouter for a non-streamed completion: (raw bytes, parsed completion, seconds waited)."""
    payload = prepare(body)
    client = current_app.extensions["openrouter"]
    started = time.perf_counter()
    upstream = client.post_chat(payload)
    waited = time.perf_counter() - started
    return upstream.content, _parse_completion(upstream.content), waited


def completion_response(body):
    """A non-streamed completion: OpenRouter's body passed on unchanged, plus our headers."""
    content, completion, waited = complete(body)
    response = Response(content, mimetype="application/json")
    return _tag(response, completion, waited)


def summary_response(body):
    """A non-streamed completion reduced to {id, model, provider, content, finish_reason, usage}."""
    _, completion, waited = complete(body)
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    summary = {
        "id": completion.get("id"), "model": completion.get("model"), "provider": completion.get("provider"),
        "content": message.get("content"), "finish_reason": choice.get("finish_reason"),
        "usage": completion.get("usage"),
    }
    return _tag(Response(orjson.dumps(summary), mimetype="application/json"), completion, waited)


def _tag(response, completion, waited):
    response.headers["X-Generation-Id"] = completion.get("id") or ""
    response.headers["X-Gateway-Overhead-Ms"] = _overhead_ms(waited)
    return response


def _parse_completion(content):
    try:
        completion = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise UpstreamError("OpenRouter answered with a body that is not JSON", headers=NO_RETRY) from None
    if not isinstance(completion, dict):
        raise UpstreamError("OpenRouter answered with a body that is not a completion", headers=NO_RETRY)
    error = completion.get("error")
    if "choices" not in completion and error is not None:
        message = describe(error, "no message") if isinstance(error, dict) else str(error)
        raise UpstreamError(f"OpenRouter returned an error: {message}", headers=NO_RETRY)
    return completion


def stream_response(body):
    """A streamed completion: headers first, then each upstream event as it arrives."""
    payload = prepare({**body, "stream": True})
    client = current_app.extensions["openrouter"]
    started = time.perf_counter()
    upstream = client.open_stream(payload)
    waited = time.perf_counter() - started
    sock = request.environ.get("gunicorn.socket")
    response = Response(mimetype="text/event-stream", headers=SSE_HEADERS)
    response.response = _counted(response, relay(upstream, g.request_id, sock))
    generation = upstream.headers.get("X-Generation-Id")
    if generation:
        response.headers["X-Generation-Id"] = generation
    response.headers["X-Gateway-Overhead-Ms"] = _overhead_ms(waited)
    return response


def _counted(response, events):
    """Pass the relay through, counting bytes for the request's log line."""
    response.sent_bytes = 0
    try:
        for chunk in events:
            response.sent_bytes += len(chunk)
            yield chunk
    finally:
        events.close()
