"""Calling a model upstream (chat, Responses, Messages, Embeddings) and counting what the call used.

Flask-free: the request's side (the caller, the forwarded headers, the call's ticket) comes in a ModelCall;
blueprints/model_answers.py builds it and turns the results into responses. What differs between the APIs
is in services/apis.py.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from core.errors import RedisUnavailableError, UpstreamError
from core.metrics import observe_usage
from core.redaction import redact_secrets
from services.apis import CHAT
from services.cooperative import BIG_STEP_BYTES, after_big
from services.usage import amounts
from upstream.errors import describe

log = logging.getLogger("gateway")


@dataclass
class ModelCall:
    """One caller's model call: who, with what settings, through which client, counted where."""

    client: Any
    usage: Any  # the usage store
    settings: Any  # app.config
    user: str
    end_user: str  # the hashed id OpenRouter sees
    forwarded: dict | None = None  # the caller's headers this API passes upstream
    ticket: Any = None  # the call's CallTicket when it holds a concurrency slot


def prepare(call, body, api=CHAT):
    """The body to send upstream for a validated body: the caller's, plus what the gateway adds."""
    return api.prepare(body, call.settings, call.end_user)


def encode(outgoing):
    """The JSON bytes sent upstream, at their own size: orjson hands back its working buffer (4 KB for a short
    chat), and the body stays referenced for the whole call, of which a worker holds thousands."""
    data = after_big(orjson.dumps(outgoing))
    return bytes(memoryview(data)) if len(data) < BIG_STEP_BYTES else data


def model_of(outgoing):
    """The model a request names (or the gateway filled in): usage is counted under it if the answer names none."""
    models = outgoing.get("models")
    return outgoing.get("model") or (models[0] if isinstance(models, list) and models else "unknown")


def complete(call, body, api=CHAT):
    """Call OpenRouter for a non-streamed answer: (raw bytes, parsed answer, seconds waited)."""
    outgoing = prepare(call, body, api)
    started = time.perf_counter()
    upstream = call.client.post_chat(encode(outgoing), path=api.path, headers=call.forwarded, endpoint=api.name)
    waited = time.perf_counter() - started
    content = redact_secrets(upstream.data)  # passed on as it is: an echoed key must not go with it
    completion = parse_completion(content, api.answer_key)
    record_usage(call, completion.get("model") or model_of(outgoing), api.usage_of(completion))
    return content, completion, waited


def open_stream(call, body, api=CHAT):
    """Open the upstream stream: (upstream response, its StreamUsage, seconds waited for the headers)."""
    outgoing = prepare(call, {**body, "stream": True}, api)
    started = time.perf_counter()
    upstream = call.client.open_stream(
        encode(outgoing), path=api.path, headers=call.forwarded, endpoint=f"{api.name}_stream"
    )
    waited = time.perf_counter() - started
    return upstream, StreamUsage(call.usage, call.user, model_of(outgoing), api, call.ticket), waited


def record_usage(call, model, usage):
    """Count a finished call against the caller (usage accounting and the daily budget).

    A call holding a concurrency slot writes it with the slot's release, in one round trip, when it settles.
    """
    if call.ticket is None:
        safe_record(call.usage, call.user, model, usage)
    else:
        observe_usage(model, amounts(usage))
        call.ticket.add_usage(model, usage)


def safe_record(store, user, model, usage):
    """Record usage; the answer is already paid for, so a Redis failure is logged, never answered."""
    observe_usage(model, amounts(usage))
    try:
        store.record(user, model, usage)
    except RedisUnavailableError:
        log.warning("usage not recorded for a %s call: Redis unavailable", model)


def summarize(completion):
    """A completion reduced to {id, model, provider, content, finish_reason, usage}."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    return {
        "id": completion.get("id"),
        "model": completion.get("model"),
        "provider": completion.get("provider"),
        "content": message.get("content"),
        "finish_reason": choice.get("finish_reason"),
        "usage": completion.get("usage"),
    }


def parse_completion(content, answer_key="choices"):
    """OpenRouter's body parsed; an answer that is not one (not JSON, not an object, an error) is a 502."""
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
        """Renew the call's slot lease now and then while the stream runs."""
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
