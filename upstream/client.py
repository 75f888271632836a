"""The OpenRouter client: one requests session per worker, (connect, idle) timeouts, no blind re-sends.

requests' per-call work (preparing each request, re-reading proxy settings from the environment, merging
session settings, copying a prepared request's headers and cookie jar, and urllib3's check that a pooled
connection is still open, which under gevent goes through the hub) was a fifth of the gateway's CPU. So each
call sends a request built from parts prepared once, with the proxies resolved once at start, through a
session and adapter that keep no cookies, and the pooled connection is checked with one real poll(2).
Callers get the urllib3 response under requests' (`.status`, `.headers`, `.data`, streamed reads), which the
relay reads event by event.
"""

import http.client
import time

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.utils import get_environ_proxies
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from core.errors import NO_RETRY, ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from core.metrics import UPSTREAM_ERRORS, UPSTREAM_LATENCY
from core.readiness import readable_now, wait_readable
from upstream.errors import error_from_exception, error_from_response

# Only a connection that could not be opened is tried again: once a byte of a POST may have reached
# OpenRouter, a second send could bill twice (urllib3 retries read errors and statuses of GETs only).
POST_RETRY = Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0, raise_on_status=False)


def get_retry(attempts):
    """Idempotent GETs: connection failures, read failures and 5xx tried `attempts` times in all."""
    retries = attempts - 1
    return Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        redirect=0,
        other=0,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        backoff_factor=0.25,
        raise_on_status=False,
        respect_retry_after_header=False,
    )


class _Polled:
    """A pooled connection is reusable while nothing is readable on it (no EOF, no stray bytes): urllib3's own
    check, asked with one poll(2) of zero timeout instead of a poll object of the gevent hub.

    And a call waits for OpenRouter's first byte before http.client builds the answer's reader: a worker holds
    thousands of calls waiting seconds each, and none of them holds a read buffer and a response object yet (3 KB
    a call, and a shallower stack to save at each switch).
    """

    @property
    def is_connected(self):
        return self.sock is not None and not readable_now(self.sock)

    def getresponse(self):
        if self.sock is not None:
            timeout = self.timeout if isinstance(self.timeout, int | float) else None
            wait_readable(self.sock, timeout)  # TimeoutError: urllib3 makes it its ReadTimeoutError
        return super().getresponse()


# http.client reads an answer through a BufferedReader of 8 KB per connection, held while a call is in flight
# (thousands of them in a gevent worker). An SSE event or a response head fits in 2 KB; a larger body is read
# past the buffer anyway (BufferedReader hands a large read to the socket directly).
RESPONSE_BUFFER = 2048


class _SmallBuffer:
    """The socket as http.client.HTTPResponse sees it: it only asks for a reader over it."""

    def __init__(self, sock):
        self._sock = sock

    def makefile(self, mode):
        return self._sock.makefile(mode, buffering=RESPONSE_BUFFER)


def _response(sock, *args, **kwargs):
    return http.client.HTTPResponse(_SmallBuffer(sock), *args, **kwargs)


class _Connection(_Polled, HTTPConnection):
    response_class = staticmethod(_response)


class _TLSConnection(_Polled, HTTPSConnection):
    response_class = staticmethod(_response)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class NoCookies(RequestsCookieJar):
    """The session serves every user: a cookie OpenRouter sets is never kept, nor sent on."""

    def extract_cookies(self, response, request):
        pass

    def set_cookie(self, cookie, *args, **kwargs):
        pass


class Adapter(HTTPAdapter):
    """requests' adapter over pools whose connections are checked cheaply; responses keep no cookies."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    def build_response(self, req, resp):
        response = requests.Response()
        response.status_code, response.raw, response.reason = resp.status, resp, resp.reason
        response.headers = resp.headers  # urllib3's HTTPHeaderDict is already case-insensitive
        response.url, response.request, response.connection = req.url, req, self
        return response


def make_session(retry, pool_size):
    """A session that never reads the environment per call nor keeps cookies (it serves every user)."""
    session = requests.Session()
    session.trust_env = False  # proxies are resolved once, in OpenRouterClient
    session.cookies = NoCookies()
    adapter = Adapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retry, pool_block=False)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class OpenRouterClient:
    """Calls OpenRouter with the gateway's key; every failure comes out as one of our errors."""

    def __init__(self, cfg, pool_size=None):
        self.base_url = cfg["OPENROUTER_BASE_URL"]
        self.api_key = cfg["OPENROUTER_API_KEY"]
        # A urllib3 Timeout passes through requests as it is: connect, then the longest silence between bytes.
        self.timeout = requests.adapters.TimeoutSauce(
            connect=cfg["OPENROUTER_CONNECT_TIMEOUT"] / 1000, read=cfg["OPENROUTER_TIMEOUT"] / 1000
        )
        self.headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if self.api_key:
            self.headers["Authorization"] = f"Bearer {self.api_key}"
        if cfg["OPENROUTER_SITE_URL"]:
            self.headers["HTTP-Referer"] = cfg["OPENROUTER_SITE_URL"]
        if cfg["OPENROUTER_SITE_NAME"]:
            self.headers["X-OpenRouter-Title"] = self.headers["X-Title"] = cfg["OPENROUTER_SITE_NAME"]
        # One pooled connection per call a worker may hold (gevent: worker_connections of them).
        size = pool_size or cfg.get("GUNICORN_WORKER_CONNECTIONS") or 32
        self.proxies = get_environ_proxies(self.base_url)  # HTTPS_PROXY/NO_PROXY, read once
        self.session = make_session(POST_RETRY, size)
        self._get_sessions = {}
        self._templates = {}

    def _prepare(self, method, url, headers):
        return requests.Request(method, url, headers=headers, data=b"{}").prepare()

    def _require_key(self):
        if not self.api_key:
            raise ServiceUnavailableError("OPENROUTER_API_KEY is not configured on the gateway")

    def _post(self, path, body, stream=False, headers=None):
        """A POST of `body` to `path`, put together from the URL and headers requests prepared once per path
        (and for streams): no prepared request, cookie jar or case-insensitive dict is copied per call."""
        template = self._templates.get((path, stream))
        if template is None:
            fixed = {**self.headers, "Accept": "text/event-stream"} if stream else self.headers
            prepared = self._prepare("POST", f"{self.base_url}{path}", fixed)
            del prepared.headers["Content-Length"]
            template = self._templates[(path, stream)] = (prepared.url, dict(prepared.headers))
        request = requests.PreparedRequest()
        request.method, request.url, request.body = "POST", template[0], body
        request.headers = {**template[1], **(headers or {}), "Content-Length": str(len(body))}
        return request

    def _send(self, session, request, timeout=None, endpoint=None):
        """Send a prepared request; the urllib3 response, its body not read yet."""
        started = time.perf_counter()
        try:
            response = session.send(
                request, stream=True, timeout=timeout or self.timeout, allow_redirects=False, proxies=self.proxies
            )
        except (requests.RequestException, HTTPError) as exc:
            error = _failure(exc)
            if endpoint:
                UPSTREAM_ERRORS.labels(endpoint, "timeout" if error.status == 504 else "connection").inc()
            raise error from None
        if endpoint:
            UPSTREAM_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
            if response.status_code != 200:
                UPSTREAM_ERRORS.labels(endpoint, str(response.status_code)).inc()
        return response.raw

    def post_chat(self, body, path="/chat/completions", headers=None, endpoint="chat"):
        """POST a chat completion (JSON bytes); returns the successful response, its body read (`.data`).

        `path` names another inference API (`/responses`, `/messages`, `/embeddings`), `headers` adds to ours.
        """
        self._require_key()
        response = self._send(self.session, self._post(path, body, headers=headers), endpoint=endpoint)
        try:
            response.data  # noqa: B018 - reads the body and hands the connection back to the pool
        except HTTPError as exc:
            close(response)
            raise _failure(exc) from None
        if response.status != 200:
            raise error_from_response(response.status, response.data, response.headers)
        return response

    def open_stream(self, body, path="/chat/completions", headers=None, endpoint="chat_stream"):
        """POST a streaming chat completion; returns the open response once OpenRouter answered 200."""
        self._require_key()
        response = self._send(self.session, self._post(path, body, True, headers), endpoint=endpoint)
        if response.status != 200:
            try:
                raise error_from_response(response.status, _read_all(response), response.headers)
            finally:
                close(response)
        return response

    def get_json(self, path, timeout=None, attempts=3):
        """GET an idempotent endpoint (models, key); urllib3 retries connection failures and 5xx."""
        self._require_key()
        session = self._get_sessions.get(attempts)
        if session is None:
            session = self._get_sessions[attempts] = make_session(get_retry(attempts), 2)
        timeout = requests.adapters.TimeoutSauce(connect=timeout[0], read=timeout[1]) if timeout else None
        response = self._send(session, self._prepare("GET", f"{self.base_url}{path}", self.headers), timeout)
        try:
            content = response.data
        except HTTPError as exc:
            close(response)
            raise _failure(exc) from None
        if response.status != 200:
            raise error_from_response(response.status, content, response.headers)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"OpenRouter answered {path} with a body that is not JSON") from None

    def close(self):
        """Close every pooled connection (a worker exiting, a test ending)."""
        for session in (self.session, *self._get_sessions.values()):
            session.close()


def _failure(exc):
    """Our error for what requests or urllib3 raised: unreachable, silent, or cut off."""
    if isinstance(exc, requests.ConnectTimeout):
        return UpstreamError("OpenRouter is unreachable: could not open a connection")
    if isinstance(exc, requests.ReadTimeout):
        return UpstreamTimeoutError("OpenRouter sent nothing within OPENROUTER_TIMEOUT", headers=NO_RETRY)
    reason = exc.args[0] if exc.args and isinstance(exc.args[0], HTTPError) else exc
    return error_from_exception(reason)


def _read_all(response):
    try:
        return response.read()
    except HTTPError:
        return b""


def close(response):
    """Close a streamed response's connection (OpenRouter stops generating) and free its pool slot."""
    response.close()
    response.release_conn()


def finish(response, rest, grace=0.25):
    """After [DONE]: read the body's last bytes so the connection goes back to the pool for the next call.

    `rest` is the rest of the body's chunks. An upstream that does not end its body within `grace` seconds is
    cut off instead, so a misbehaving one cannot hold the worker.
    """
    try:
        response.connection.sock.settimeout(grace)
        for _ in rest:
            pass
    except (HTTPError, OSError, AttributeError):
        close(response)
        return
    response.release_conn()
