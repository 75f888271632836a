"""Sending a chat request upstream and answering with OpenRouter's completion or its relayed stream."""

import logging
import time

import orjson
from flask import Response, current_app, g, request

from auth import end_user_id
from errors import NO_RETRY, UpstreamError
from metrics import FIRST_CHUNK, STREAMS, observe_usage
from services.chat import upstream_request
from services.redis_errors import redis_errors
from services.usage import amounts
from upstream.errors import describe
from upstream.streaming import DONE, relay

log = logging.getLogger("gateway")
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
    completion = _parse_completion(upstream.data)
    record_usage(completion.get("model") or requested_model(body), completion.get("usage"))
    return upstream.data, completion, waited


def requested_model(body):
    """The model a request names, or the one the gateway fills in."""
    return body.get("model") or current_app.config["OPENROUTER_DEFAULT_MODEL"]


def record_usage(model, usage):
    """Count a finished call against the caller (usage accounting and the daily budget).

    A call holding a concurrency slot writes it with the slot's release, in one round trip, when it settles.
    """
    ticket = g.get("call_ticket")
    if ticket is None:
        safe_record(current_app.extensions["usage"], g.user, model, usage)
    else:
        observe_usage(model, amounts(usage))
        ticket.add_usage(model, usage)


def safe_record(store, user, model, usage):
    """Record usage; the answer is already paid for, so a Redis failure is logged, never answered."""
    observe_usage(model, amounts(usage))
    try:
        store.record(user, model, usage)
    except redis_errors():
        log.warning("usage not recorded for a %s call: Redis unavailable", model)


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
        "id": completion.get("id"),
        "model": completion.get("model"),
        "provider": completion.get("provider"),
        "content": message.get("content"),
        "finish_reason": choice.get("finish_reason"),
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
    seen = StreamUsage(current_app.extensions["usage"], g.user, requested_model(body), g.get("call_ticket"))
    g.call_streamed = True  # the stream settles its call's ticket, not the view
    response = Response(mimetype="text/event-stream", headers=SSE_HEADERS)
    response.response = _counted(response, relay(upstream, g.request_id, sock, on_data=seen.observe), seen, g.started)
    generation = upstream.headers.get("X-Generation-Id")
    if generation:
        response.headers["X-Generation-Id"] = generation
    response.headers["X-Gateway-Overhead-Ms"] = _overhead_ms(waited)
    return response


def _counted(response, events, seen, started):
    """Pass the relay through, counting bytes for the log line; record usage however the stream ends."""
    response.sent_bytes = 0
    STREAMS.inc()
    try:
        for chunk in events:
            if not response.sent_bytes:
                FIRST_CHUNK.observe(time.perf_counter() - started)
            response.sent_bytes += len(chunk)
            if chunk.endswith(DONE):
                seen.record()  # before the last event leaves: the caller's next call sees the slot free
            else:
                seen.keep_alive()
            yield chunk
    finally:
        STREAMS.dec()
        events.close()
        seen.record()


class StreamUsage:
    """The usage chunk of a stream, if it came; recorded once, with the call's slot released, at its end."""

    def __init__(self, store, user, model, ticket=None):
        self.store, self.user, self.model, self.usage = store, user, model, None
        self.ticket, self.recorded = ticket, False

    def observe(self, chunk):
        """Called with each parsed data event."""
        if isinstance(chunk.get("usage"), dict):
            self.usage, self.model = chunk["usage"], chunk.get("model") or self.model

    def keep_alive(self):
        if self.ticket is not None:
            self.ticket.keep_alive()

    def record(self):
        """Record once (the last event, or the stream's close if it never came)."""
        if self.recorded:
            return
        self.recorded = True
        if self.ticket is None:
            safe_record(self.store, self.user, self.model, self.usage)
            return
        observe_usage(self.model, amounts(self.usage))
        self.ticket.add_usage(self.model, self.usage)
        self.ticket.settle()
