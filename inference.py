"""Sending an inference request upstream (chat, Responses, Messages, Embeddings) and answering with
OpenRouter's body or its relayed stream. What differs between the APIs is in services/apis.py."""

import logging
import time

import orjson
from flask import Response, current_app, g, request

from auth import end_user_id
from composition import current_services
from errors import RedisUnavailableError, UpstreamError
from metrics import FIRST_CHUNK, STREAMS, observe_usage
from redaction import redact_secrets
from services.apis import CHAT
from services.usage import amounts
from upstream.errors import describe
from upstream.streaming import DONE, relay

log = logging.getLogger("gateway")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def prepare(body, api=CHAT):
    """The body to send upstream for a validated body: the caller's, plus what the gateway adds."""
    return api.prepare(body, current_app.config, end_user_id(g.user))


def _model_of(outgoing):
    """The model a request names (or the gateway filled in): usage is counted under it if the answer names none."""
    models = outgoing.get("models")
    return outgoing.get("model") or (models[0] if isinstance(models, list) and models else "unknown")


def _forwarded(api):
    """The caller's headers this API passes upstream (Messages: anthropic-version, anthropic-beta)."""
    headers = {name: request.headers[name] for name in api.forward if name in request.headers}
    return headers or None


def _overhead_ms(upstream_wait):
    return f"{(time.perf_counter() - g.started - upstream_wait) * 1000:.2f}"


def complete(body, api=CHAT):
    """Call OpenRouter for a non-streamed answer: (raw bytes, parsed answer, seconds waited)."""
    outgoing = prepare(body, api)
    client = current_services().client
    started = time.perf_counter()
    upstream = client.post_chat(orjson.dumps(outgoing), path=api.path, headers=_forwarded(api), endpoint=api.name)
    waited = time.perf_counter() - started
    content = redact_secrets(upstream.data)  # passed on as it is: an echoed key must not go with it
    completion = _parse_completion(content, api.answer_key)
    record_usage(completion.get("model") or _model_of(outgoing), api.usage_of(completion))
    return content, completion, waited


def record_usage(model, usage):
    """Count a finished call against the caller (usage accounting and the daily budget).

    A call holding a concurrency slot writes it with the slot's release, in one round trip, when it settles.
    """
    ticket = g.get("call_ticket")
    if ticket is None:
        safe_record(current_services().usage, g.user, model, usage)
    else:
        observe_usage(model, amounts(usage))
        ticket.add_usage(model, usage)


def safe_record(store, user, model, usage):
    """Record usage; the answer is already paid for, so a Redis failure is logged, never answered."""
    observe_usage(model, amounts(usage))
    try:
        store.record(user, model, usage)
    except RedisUnavailableError:
        log.warning("usage not recorded for a %s call: Redis unavailable", model)


def completion_response(body, api=CHAT):
    """A non-streamed answer: OpenRouter's body passed on unchanged, plus our headers."""
    content, completion, waited = complete(body, api)
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


def _parse_completion(content, answer_key="choices"):
    try:
        completion = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise UpstreamError("OpenRouter answered with a body that is not JSON") from None
    if not isinstance(completion, dict):
        raise UpstreamError("OpenRouter answered with a body that is not a completion")
    error = completion.get("error")
    if answer_key not in completion and error is not None:
        message = describe(error, "no message") if isinstance(error, dict) else str(error)
        raise UpstreamError(f"OpenRouter returned an error: {message}")
    return completion


def stream_response(body, api=CHAT):
    """A streamed answer: headers first, then each upstream event as it arrives."""
    outgoing = prepare({**body, "stream": True}, api)
    client = current_services().client
    started = time.perf_counter()
    upstream = client.open_stream(
        orjson.dumps(outgoing), path=api.path, headers=_forwarded(api), endpoint=f"{api.name}_stream"
    )
    waited = time.perf_counter() - started
    sock = request.environ.get("gunicorn.socket")
    seen = StreamUsage(current_services().usage, g.user, _model_of(outgoing), api, g.get("call_ticket"))
    g.call_streamed = True  # the stream settles its call's ticket, not the view
    events = relay(upstream, g.request_id, sock, on_data=seen.observe, dialect=api.dialect)
    response = Response(mimetype="text/event-stream", headers=SSE_HEADERS)
    response.response = _counted(response, events, seen, g.started)
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
            if seen.ended or chunk.endswith(DONE):
                seen.record()  # before the last event leaves: the caller's next call sees the slot free
            else:
                seen.keep_alive()
            yield chunk
    finally:
        STREAMS.dec()
        events.close()
        seen.record()


class StreamUsage:
    """The usage a stream reported (merged, as Messages reports it in two events); recorded once, with the
    call's slot released, at its end."""

    def __init__(self, store, user, model, api=CHAT, ticket=None):
        self.store, self.user, self.model, self.api, self.usage = store, user, model, api, None
        self.ticket, self.recorded, self.ended = ticket, False, False

    def observe(self, chunk):
        """Called with each parsed data event."""
        usage, model = self.api.stream_usage(chunk)
        if isinstance(usage, dict):
            self.usage = {**self.usage, **usage} if self.usage else usage
            self.model = model or self.model
        finished = self.api.dialect.finished
        if finished is not None and finished(chunk):
            self.ended = True  # the API's own last event (message_stop, response.completed) comes next

    def keep_alive(self):
        if self.ticket is not None:
            self.ticket.keep_alive()

    def record(self):
        """Record once (before the last event leaves, or at the stream's close if it never came)."""
        if self.recorded:
            return
        self.recorded = True
        usage = self.api.usage(self.usage) if self.usage is not None else None
        if self.ticket is None:
            safe_record(self.store, self.user, self.model, usage)
            return
        observe_usage(self.model, amounts(usage))
        self.ticket.add_usage(self.model, usage)
        self.ticket.settle()
