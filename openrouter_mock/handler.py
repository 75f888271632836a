"""The HTTP request handler: routing, auth, recording, and writing JSON / SSE / faults."""

import contextlib
import select
import socket
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, unquote

from . import apis, catalogue, chat, embeddings, encode, faults, messages_api, responses_api
from .wire import Headers, JSONDecodeError, dumps, error_body, loads

COMMENT = b": OPENROUTER PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"
NOT_JSON = b"<html><head><title>502 Bad Gateway</title></head><body>upstream hiccup</body></html>"
MODELS_BODY = dumps({"data": catalogue.MODELS})
NO_AUTH = dumps({"error": {"message": "No auth credentials found", "code": 401}})
BAD_KEY = dumps({"error": {"message": "User not found.", "code": 401}})
_REASONS = {524: "A Timeout Occurred", 529: "Site is overloaded"}
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_ROUTES = {
    "/api/v1/chat/completions": "POST",
    "/api/v1/responses": "POST",
    "/api/v1/messages": "POST",
    "/api/v1/embeddings": "POST",
    "/api/v1/models": "GET",
    "/api/v1/key": "GET",
    "/api/v1/auth/key": "GET",
    "/api/v1/credits": "GET",
}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return _REASONS.get(status, "Unknown")


class Handler(BaseHTTPRequestHandler):
    """Serves OpenRouter's endpoints and the /_mock control endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = "OpenRouterMock/1.0"

    def setup(self):
        """Disable Nagle so small writes (SSE events) leave at once, and track the connection."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.mock = self.server.mock
        self.mock._track(self.connection, True)

    def finish(self):
        """Untrack the connection."""
        try:
            super().finish()
        finally:
            self.mock._track(self.connection, False)

    def log_message(self, format, *args):
        """Stay quiet."""

    def do_GET(self):
        """Dispatch any method."""
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ----------------------------------------------------------------- plumbing
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, body: bytes, headers=None, ctype="application/json"):
        head = f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        for key, value in (headers or {}).items():
            head += f"{key}: {value}\r\n"
        if self.close_connection:
            head += "Connection: close\r\n"
        if self.rec is not None:
            self.rec["status"] = status
            self._done()
        self.wfile.write(head.encode("latin-1") + b"\r\n" + body)

    def _json(self, status, obj, headers=None):
        self._send(status, dumps(obj), headers)

    def _done(self):
        """Mark the record finished just before the last write (so a client never sees it unfinished)."""
        if not self.rec["client_disconnected"] and not self.mock._stopping.is_set():
            self.rec["finished"] = True

    def _gone(self):
        """Note that the client went away, and stop using the connection."""
        self.close_connection = True
        if self.rec is not None and not self.rec["client_disconnected"]:
            self.rec["client_disconnected"] = True
            self.rec["finished"] = False
            self.mock._touch()

    def _wait(self, seconds) -> bool:
        """Wait, watching the socket; False if the client disconnected (or the mock stops) meanwhile."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            if self.mock._stopping.is_set():
                self.close_connection = True
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            try:
                readable = select.select([sock], [], [], min(remaining, 0.2))[0]
                peeked = sock.recv(1, socket.MSG_PEEK) if readable else None
            except (OSError, ValueError):
                peeked = b""
            if peeked == b"":
                self._gone()
                return False
            if peeked:  # the client sent more bytes; it is still there
                time.sleep(min(remaining, 0.01))

    def _drop(self):
        self.close_connection = True
        if self.rec is not None:
            self._done()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _silence(self):
        if self._wait(self.mock.silence_s):
            self._drop()

    # ----------------------------------------------------------------- dispatch
    def _dispatch(self):
        self.rec = None
        path, _, qs = self.path.partition("?")
        raw = self._read_body()
        if path.startswith("/_mock/"):
            return self._control(path, raw)
        try:
            body = loads(raw) if raw else None
        except JSONDecodeError:
            body = None
        self.rec = self.mock._record(self.command, path, dict(parse_qsl(qs)), Headers(self.headers.items()), body, raw)
        try:
            self._route(path.rstrip("/") or "/", body)
        except _GONE:
            self._gone()
        except Exception as exc:  # a mock bug: say so loudly rather than hang the client
            traceback.print_exc()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._json(500, error_body(500, f"mock internal error: {exc!r}"))
        finally:
            self.mock._touch()

    def _route(self, path, body):
        method = _ROUTES.get(path)
        if method is None and path.startswith("/api/v1/models/") and path.endswith("/endpoints"):
            method = "GET"
        if method is None:
            return self._json(404, error_body(404, f"Not Found: {self.command} {path}", user_id=False))
        auth = self.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not token:
            return self._send(401, NO_AUTH)
        if self.mock.api_key is not None and token != self.mock.api_key:
            return self._send(401, BAD_KEY)
        if self.command != method:
            return self._json(405, error_body(405, f"Method {self.command} not allowed on {path}"))
        if path == "/api/v1/chat/completions":
            return self._chat(body)
        if path == "/api/v1/responses":
            return self._chat(body, responses_api.Responses, responses_api.responses_to_chat)
        if path == "/api/v1/messages":
            return self._chat(body, messages_api.Messages, messages_api.messages_to_chat)
        if path == "/api/v1/embeddings":
            return self._embeddings(body)
        if path == "/api/v1/models":
            return self._faulty("models", MODELS_BODY)
        if path in ("/api/v1/key", "/api/v1/auth/key"):
            return self._faulty("key", dumps(catalogue.key_payload(token)))
        if path == "/api/v1/credits":
            return self._json(200, catalogue.CREDITS)
        model_id = unquote(path[len("/api/v1/models/") : -len("/endpoints")])
        payload = catalogue.endpoints_payload(model_id)
        if payload is None:
            return self._json(404, error_body(404, f"No model found for {model_id}", user_id=False))
        return self._json(200, payload)

    def _faulty(self, name, ok_body: bytes):
        """Answer /models or /key, applying the configured fault and delay."""
        cfg = self.mock._config
        delay = cfg[f"{name}_delay_ms"]
        if delay and not self._wait(delay / 1000):
            return None
        fault = cfg[f"{name}_fault"]
        if fault == "500":
            return self._json(500, error_body(500, "Internal Server Error"))
        if fault == "401":
            return self._send(401, BAD_KEY)
        if fault == "drop":
            return self._drop()
        if fault == "invalid-json":
            return self._send(200, NOT_JSON)
        return self._send(200, ok_body)

    def _control(self, path, raw):
        try:
            body = loads(raw) if raw else {}
        except JSONDecodeError:
            return self._json(400, {"error": "body is not JSON"})
        if path == "/_mock/requests" and self.command == "GET":
            return self._json(200, [r.public() for r in self.mock.requests])
        if path == "/_mock/reset" and self.command == "POST":
            self.mock.reset()
            return self._json(200, {"ok": True})
        if path == "/_mock/config" and self.command in ("GET", "POST"):
            if self.command == "POST":
                try:
                    self.mock.configure(**(body or {}))
                except (TypeError, ValueError) as exc:
                    return self._json(400, {"error": str(exc)})
            return self._json(200, self.mock.config)
        return self._json(404, {"error": f"unknown control endpoint {self.command} {path}"})

    # --------------------------------------------------------------------- chat
    def _chat(self, body, api=apis.Chat, as_chat=None):
        """Chat completions, or another API read as chat (`as_chat`) and answered in its format (`api`)."""
        if not isinstance(body, dict):
            return self._json(400, error_body(400, "Invalid JSON body: expected a JSON object"))
        try:
            plan = chat.prepare(as_chat(body) if as_chat else body)
        except chat.ChatError as exc:
            return self._json(exc.status, error_body(exc.status, exc.message, exc.metadata))
        self.rec["model"], self.rec["stream"] = plan.model, plan.stream
        self.mock._touch()
        fault = plan.fault
        if plan.markers.delay_ms and not self._wait(plan.markers.delay_ms / 1000):
            return None
        if fault in faults.ERROR_FAULTS:
            status, err, headers = faults.error_response(fault, plan.model, plan.user_text)
            if status == 429 and plan.markers.retry_after is not None:
                headers = {**headers, "Retry-After": plan.markers.retry_after}
            return self._json(status, self._echo(plan, err), headers)
        if fault == "silence" or (fault == "stream-stall" and not plan.stream):
            return self._silence()
        if fault == "drop" or (fault == "stream-drop" and not plan.stream):
            return self._drop()
        if plan.stream:
            return self._stream(plan, api)
        if fault == "invalid-json":
            return self._send(200, NOT_JSON + self._echo(plan, b""))
        if fault == "error-200":
            return self._json(200, self._echo(plan, faults.error_200_body(plan.model)))
        finish_error = fault in ("finish-error", "stream-error")
        completion = self._echo(plan, api.completion(plan, finish_error))
        return self._json(200, completion, {"X-Generation-Id": plan.id})

    def _echo(self, plan, body):
        """With `[[echo_auth]]`, the body quotes the Authorization header this request carried."""
        if not plan.markers.echo_auth:
            return body
        auth = self.headers.get("Authorization") or ""
        return f"<!-- Authorization: {auth} -->".encode() if isinstance(body, bytes) else faults.echo_auth(body, auth)

    def _embeddings(self, body):
        """Deterministic vectors; faults by `mock/fault-<name>` model ids or a marker in the first input."""
        model = (body or {}).get("model") or "" if isinstance(body, dict) else ""
        first = body.get("input") if isinstance(body, dict) else None
        first = first[0] if isinstance(first, list) and first and isinstance(first[0], str) else first
        markers = faults.Markers(first if isinstance(first, str) else "")
        fault = model[len("mock/fault-") :] if model.startswith("mock/fault-") else markers.fault
        self.rec["model"] = model or embeddings.DEFAULT_MODEL
        if markers.delay_ms and not self._wait(markers.delay_ms / 1000):
            return None
        if fault in faults.ERROR_FAULTS:
            status, err, headers = faults.error_response(fault, model, first if isinstance(first, str) else "")
            return self._json(status, err, headers)
        if fault in ("silence", "drop"):
            return self._silence() if fault == "silence" else self._drop()
        try:
            return self._json(200, embeddings.answer(body))
        except chat.ChatError as exc:
            return self._json(exc.status, error_body(exc.status, exc.message))

    def _event(self, data: bytes) -> bool:
        """Write one SSE event as one HTTP chunk and record it; False if the client is gone."""
        try:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
        except (OSError, ValueError):
            self._gone()
            return False
        self.rec["events"].append((time.time(), data))
        self.mock._touch()
        return True

    def _end(self):
        self._done()
        try:
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, ValueError):
            self._gone()

    def _gap(self, markers) -> bool:
        """Pause between chunks: interval_ms, with a keep-alive comment half-way when asked."""
        half = markers.interval_ms / 2000
        if half and not self._wait(half):
            return False
        if markers.keepalive and not self._event(COMMENT):
            return False
        return not half or self._wait(half)

    def _stream(self, plan, api):
        fault, markers = plan.fault, plan.markers
        self.rec["status"] = 200
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nX-Generation-Id: " + plan.id.encode() + b"\r\n\r\n"
        )
        if not self._event(COMMENT):
            return None
        if fault in ("error-200", "invalid-json"):
            bad = encode.sse(self._echo(plan, faults.error_200_body(plan.model)))
            bad = bad if fault == "error-200" else b"data: {not json" + self._echo(plan, b"") + b"\n\n"
            if self._event(bad) and (fault == "error-200" or self._event(DONE)):
                self._end()
            return None
        if not all(self._event(ev) for ev in api.opening(plan)):
            return None
        events = api.body(plan)
        breaking = fault in ("stream-error", "stream-drop", "stream-stall", "finish-error")
        for ev in events[: min(2, len(events))] if breaking else events:
            if not (self._gap(markers) and self._event(ev)):
                return None
        if fault in ("stream-error", "finish-error"):
            event = api.error(plan)
            if plan.markers.echo_auth and event.startswith(b"data: "):
                event = encode.sse(self._echo(plan, loads(event[6:])))
            if self._event(event):
                self._end()
        elif fault == "stream-drop":
            self._drop()
        elif fault == "stream-stall":
            self._silence()
        elif self._gap(markers) and all(self._event(ev) for ev in api.closing(plan)):
            self._end()
        return None
