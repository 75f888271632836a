"""The OpenRouter client: pooled keep-alive connections, (connect, idle) timeouts, no blind re-sends.

It speaks urllib3 directly (the HTTP engine under requests): profiling the gateway put requests' per-call work
(preparing each request, runtime protocol checks, re-reading proxy settings) at a tenth of its CPU.
"""

import logging
import time
import urllib.request
from urllib.parse import urlsplit

import orjson
import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from errors import ServiceUnavailableError, UpstreamError
from metrics import UPSTREAM_ERRORS, UPSTREAM_LATENCY
from upstream.errors import error_from_exception, error_from_response

log = logging.getLogger("gateway.upstream")

# Only a connection that could not be opened is tried again: once a byte of a chat POST may have
# reached OpenRouter, a second send could bill twice.
CONNECT_RETRY = Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0, raise_on_status=False)


def make_pool(base_url, size):
    """A thread-safe pool of keep-alive connections, through HTTPS_PROXY/HTTP_PROXY unless NO_PROXY says not."""
    parts = urlsplit(base_url)
    proxy = urllib.request.getproxies_environment().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass_environment(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, num_pools=4, maxsize=size, block=False)
    return urllib3.PoolManager(num_pools=4, maxsize=size, block=False)


class OpenRouterClient:
    """Calls OpenRouter with the gateway's key; every failure comes out as one of our errors."""

    def __init__(self, cfg, pool_size=32):
        self.base_url = cfg["OPENROUTER_BASE_URL"]
        self.api_key = cfg["OPENROUTER_API_KEY"]
        self.timeout = urllib3.Timeout(
            connect=cfg["OPENROUTER_CONNECT_TIMEOUT"] / 1000, read=cfg["OPENROUTER_TIMEOUT"] / 1000
        )
        self.headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if self.api_key:
            self.headers["Authorization"] = f"Bearer {self.api_key}"
        if cfg["OPENROUTER_SITE_URL"]:
            self.headers["HTTP-Referer"] = cfg["OPENROUTER_SITE_URL"]
        if cfg["OPENROUTER_SITE_NAME"]:
            self.headers["X-OpenRouter-Title"] = self.headers["X-Title"] = cfg["OPENROUTER_SITE_NAME"]
        self.stream_headers = {**self.headers, "Accept": "text/event-stream"}
        self.pool = make_pool(self.base_url, pool_size)

    def _require_key(self):
        if not self.api_key:
            raise ServiceUnavailableError("OPENROUTER_API_KEY is not configured on the gateway")

    def _post(self, endpoint, body, headers, stream=False, path="/chat/completions"):
        started = time.perf_counter()
        try:
            response = self.pool.request(
                "POST",
                f"{self.base_url}{path}",
                body=body,
                headers=headers,
                timeout=self.timeout,
                retries=CONNECT_RETRY,
                redirect=False,
                preload_content=not stream,
            )
        except HTTPError as exc:
            error = error_from_exception(exc)
            UPSTREAM_ERRORS.labels(endpoint, "timeout" if error.status == 504 else "connection").inc()
            raise error from None
        UPSTREAM_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        if response.status != 200:
            UPSTREAM_ERRORS.labels(endpoint, str(response.status)).inc()
        return response

    def post_chat(self, body, path="/chat/completions", headers=None, endpoint="chat"):
        """POST a chat completion (JSON bytes); returns the successful response, its body read (`.data`).

        `path` names another inference API (`/responses`, `/messages`, `/embeddings`), `headers` adds to ours.
        """
        self._require_key()
        response = self._post(endpoint, body, {**self.headers, **headers} if headers else self.headers, path=path)
        if response.status != 200:
            raise error_from_response(response.status, response.data, response.headers)
        return response

    def open_stream(self, body, path="/chat/completions", headers=None, endpoint="chat_stream"):
        """POST a streaming chat completion; returns the open response once OpenRouter answered 200."""
        self._require_key()
        merged = {**self.stream_headers, **headers} if headers else self.stream_headers
        response = self._post(endpoint, body, merged, stream=True, path=path)
        if response.status != 200:
            try:
                raise error_from_response(response.status, _read_all(response), response.headers)
            finally:
                close(response)
        return response

    def get_json(self, path, timeout=None, attempts=3):
        """GET an idempotent endpoint (models, key), retrying connection failures and 5xx with backoff."""
        self._require_key()
        timeout = urllib3.Timeout(connect=timeout[0], read=timeout[1]) if timeout else self.timeout
        delay = 0.25
        for attempt in range(attempts):
            try:
                response = self.pool.request(
                    "GET", f"{self.base_url}{path}", headers=self.headers, timeout=timeout, retries=False
                )
                if response.status < 500 or attempt == attempts - 1:
                    break
            except HTTPError as exc:
                if attempt == attempts - 1:
                    raise error_from_exception(exc) from None
            time.sleep(delay)
            delay *= 2
        if response.status != 200:
            raise error_from_response(response.status, response.data, response.headers)
        try:
            return orjson.loads(response.data)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"OpenRouter answered {path} with a body that is not JSON") from None


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
    cut off instead, so a misbehaving one cannot hold the worker thread.
    """
    try:
        response.connection.sock.settimeout(grace)
        for _ in rest:
            pass
    except (HTTPError, OSError, AttributeError):
        close(response)
        return
    response.release_conn()
