"""Structured logs: every line carries the request id; one line per request, written when it closes."""

import logging
import re
import sys
import time
import uuid

import orjson
from flask import g, has_request_context, request

from core import redaction
from core.metrics import observe_request

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("gateway")
access_log = logging.getLogger("gateway.access")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record made while a request is handled."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any extra fields."""

    EXTRA = ("method", "path", "status", "duration_ms", "user", "bytes", "remote_addr")
    _second = (None, "")

    def format(self, record):
        second = int(record.created)
        if self._second[0] != second:  # strftime once a second, not once a line
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        entry = {
            "ts": f"{self._second[1]}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        for name in self.EXTRA:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Control characters (and backslash, so an escape cannot be faked either) as visible escapes.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
_ESCAPES.update({ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_text(text):
    """One log field on one line: a `%0A` in a path cannot start a forged log line."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT with every record on one line; a traceback's lines are indented under their record."""

    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record):
        record.message = escape_text(record.getMessage())
        record.asctime = self.formatTime(record)
        parts = [self.formatMessage(record)]
        if record.exc_info:  # formatted afresh: another handler may have cached an unindented copy
            parts.append(_indented(self.formatException(record.exc_info)))
        if record.stack_info:
            parts.append(_indented(self.formatStack(record.stack_info)))
        return "\n".join(parts)


def _indented(block):
    """Continuation lines start with spaces, so none of them can pass for a record of its own."""
    return "\n".join("    " + escape_text(line) for line in block.splitlines())


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter so that no secret (the OpenRouter key, any bearer token) survives into a log line."""

    def __init__(self, inner, secrets):
        super().__init__()
        self.inner = inner
        for secret in secrets:
            redaction.register(secret)

    def format(self, record):
        return redaction.redact(self.inner.format(record))


def configure_logging(cfg):
    """Send the gateway's logs to stderr in the configured format, once per process."""
    root = logging.getLogger()
    root.setLevel(cfg.LOG_LEVEL)
    handler = next((h for h in root.handlers if getattr(h, "_gateway", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._gateway = True
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    inner = JsonFormatter() if cfg.LOG_FORMAT == "json" else TextFormatter()
    handler.setFormatter(RedactingFormatter(inner, [cfg.OPENROUTER_API_KEY]))
    logging.Formatter.converter = time.gmtime


def start_request():
    """Take the caller's X-Request-ID when it is well formed, else make one; start the clock."""
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID")
    g.request_id = given if given and REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def finish_request(response):
    """Tag the response and log it when it is closed (a stream's line gets its real duration)."""
    response.headers["X-Request-ID"] = g.request_id
    started, rid, user = g.started, g.request_id, g.get("user")
    method, path, status = request.method, request.path, response.status_code
    remote = request.remote_addr
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"

    def write_line():
        seconds = time.perf_counter() - started
        observe_request(route, method, status, seconds)
        duration = round(seconds * 1000, 2)
        size = sent_bytes(response)
        access_log.info(
            "%s %s %s %sms user=%s bytes=%s",
            method,
            path,
            status,
            duration,
            user,
            size,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "user": user,
                "request_id": rid,
                "duration_ms": duration,
                "bytes": size,
                "remote_addr": remote,
            },
        )

    response.call_on_close(write_line)
    return response


def sent_bytes(response):
    """Body size: counted by the relay for streams, else the body's length."""
    counted = getattr(response, "sent_bytes", None)
    return counted if counted is not None else response.calculate_content_length()
