"""The OpenRouter client: a keep-alive session per thread, (connect, idle) timeouts, no blind re-sends."""

import logging
import threading
import time

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from errors import ServiceUnavailableError, UpstreamError
from metrics import UPSTREAM_ERRORS, UPSTREAM_LATENCY
from upstream.errors import error_from_exception, error_from_response

log = logging.getLogger("gateway.upstream")

# Only a connection that could not be opened is tried again: once a byte of a chat POST may have
# reached OpenRouter, a second send could bill twice.
CONNECT_RETRY = Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0, raise_on_status=False)


class OpenRouterClient:
    """Calls OpenRouter with the gateway's key; every failure comes out as one of our errors."""

    def __init__(self, cfg):
        self.base_url = cfg["OPENROUTER_BASE_URL"]
        self.api_key = cfg["OPENROUTER_API_KEY"]
        self.timeout = (cfg["OPENROUTER_CONNECT_TIMEOUT"] / 1000, cfg["OPENROUTER_TIMEOUT"] / 1000)
        self.headers = {"Content-Type": "application/json"}
        if self.api_key:
            self.headers["Authorization"] = f"Bearer {self.api_key}"
        if cfg["OPENROUTER_SITE_URL"]:
            self.headers["HTTP-Referer"] = cfg["OPENROUTER_SITE_URL"]
        if cfg["OPENROUTER_SITE_NAME"]:
            self.headers["X-OpenRouter-Title"] = self.headers["X-Title"] = cfg["OPENROUTER_SITE_NAME"]
        self.stream_headers = {**self.headers, "Accept": "text/event-stream", "Accept-Encoding": "identity"}
        # Proxy settings (HTTPS_PROXY, NO_PROXY) are read once here: requests would re-read the environment and
        # ~/.netrc on every call, a measurable share of the gateway's own cost.
        self.proxies = requests.utils.get_environ_proxies(self.base_url)
        self._local = threading.local()

    @property
    def session(self):
        """This thread's session: its own keep-alive connection, never shared between threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env, session.proxies = False, dict(self.proxies)
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=CONNECT_RETRY)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def _require_key(self):
        if not self.api_key:
            raise ServiceUnavailableError("OPENROUTER_API_KEY is not configured on the gateway")

    def _post(self, endpoint, body, headers, stream=False):
        started = time.perf_counter()
        try:
            response = self.session.post(
                f"{self.base_url}/chat/completions", data=body, headers=headers, timeout=self.timeout, stream=stream
            )
        except requests.RequestException as exc:
            UPSTREAM_ERRORS.labels(endpoint, "connection").inc()
            raise error_from_exception(exc) from None
        UPSTREAM_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        if response.status_code != 200:
            UPSTREAM_ERRORS.labels(endpoint, str(response.status_code)).inc()
        return response

    def post_chat(self, body):
        """POST a chat completion (JSON bytes); returns the successful `requests.Response`, body read."""
        self._require_key()
        response = self._post("chat", body, self.headers)
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, response.headers)
        return response

    def open_stream(self, body):
        """POST a streaming chat completion; returns the open response once OpenRouter answered 200."""
        self._require_key()
        response = self._post("chat_stream", body, self.stream_headers, stream=True)
        if response.status_code != 200:
            try:
                raise error_from_response(response.status_code, response.content, response.headers)
            finally:
                response.close()
        return response

    def get_json(self, path, timeout=None, attempts=3):
        """GET an idempotent endpoint (models, key), retrying connection failures and 5xx with backoff."""
        self._require_key()
        delay = 0.25
        for attempt in range(attempts):
            try:
                response = self.session.get(
                    f"{self.base_url}{path}", headers=self.headers, timeout=timeout or self.timeout
                )
                if response.status_code < 500 or attempt == attempts - 1:
                    break
            except requests.RequestException as exc:
                if attempt == attempts - 1:
                    raise error_from_exception(exc) from None
            time.sleep(delay)
            delay *= 2
        if response.status_code != 200:
            raise error_from_response(response.status_code, response.content, response.headers)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"OpenRouter answered {path} with a body that is not JSON") from None
