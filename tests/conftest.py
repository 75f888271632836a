"""Fixtures: the app built with TestConfig, a client, tokens, and the OpenRouter stand-in."""

import base64
import io
import logging
import struct
import time
import wave
import zlib
from datetime import UTC, datetime

import jwt as pyjwt
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import EnvironBuilder

from app import create_app
from core.config import TestConfig
from tests.servers import run_gunicorn, run_redis
from webapp.cli import mint_token
from webapp.composition import services_of

MOCK_KEY = "sk-or-v1-" + "c0ffee" * 10 + "abcd"


@pytest.fixture(scope="session")
def mock_openrouter():
    """One stand-in for the whole session; each test resets its records."""
    from openrouter_mock import MockOpenRouter

    with MockOpenRouter(api_key=MOCK_KEY) as mock:
        yield mock


@pytest.fixture
def upstream(mock_openrouter):
    mock_openrouter.reset()
    return mock_openrouter


def make_app(**overrides):
    """An app with TestConfig and the given overrides."""
    return create_app(TestConfig(**overrides))


@pytest.fixture
def app():
    """The gateway with no reachable upstream (tests that need OpenRouter use `gateway`)."""
    return make_app()


@pytest.fixture
def gateway(upstream):
    """The gateway pointed at the stand-in."""
    return gateway_app(upstream)


@pytest.fixture
def client(app):
    return app.test_client()


def token_for(app, sub="alice", ttl=3600, **extra):
    """A token signed for `app`."""
    return mint_token(app.config, sub, ttl, extra=extra)


@pytest.fixture
def token(app):
    return token_for(app)


@pytest.fixture
def auth_headers(token):
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status, error_type, message=None):
    """The exact envelope of API.md, with a request id; returns the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == status
    assert error["type"] == error_type
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    if message is not None:
        assert message in error["message"], error["message"]
    return error


# --- shared with other test modules (was in test_media.py) ---


def _png():
    """A real 1x1 RGB PNG."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _wav():
    """A real 10 ms mono 8 kHz WAV made by the wave module."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    return buf.getvalue()


PNG = _png()


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 16


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00"
    b"\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


GIF87 = b"GIF87a" + GIF[6:]


WEBP = b"RIFF" + struct.pack("<I", 26) + b"WEBPVP8 " + struct.pack("<I", 14) + b"\x00" * 14


WAV = _wav()


MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 32


MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz


MP2_FRAME = b"\xff\xfd\x90\x64" + b"\x00" * 32  # MPEG-1 layer II


FLAC = b"fLaC\x00\x00\x00\x22" + b"\x00" * 34


OGG = b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8 + b"\x01\x1e" + b"\x01vorbis" + b"\x00" * 23


M4A = struct.pack(">I", 24) + b"ftypM4A \x00\x00\x02\x00M4A isom" + struct.pack(">I", 8) + b"mdat"


M4A_COMPAT = struct.pack(">I", 20) + b"ftypqt  \x00\x00\x00\x00mp42"


AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 8  # ADTS, MPEG-4 AAC LC, 44.1 kHz


AIFF = b"FORM" + struct.pack(">I", 30) + b"AIFFCOMM" + struct.pack(">I", 18) + b"\x00" * 18


AIFC = b"FORM" + struct.pack(">I", 4) + b"AIFC"


TEXT = b"hello, this is not media at all"


# Every audio format the gateway recognises, with a sample of each.
AUDIO = [
    ("wav", WAV),
    ("mp3", MP3_ID3),
    ("mp3", MP3_FRAME),
    ("flac", FLAC),
    ("ogg", OGG),
    ("m4a", M4A),
    ("aac", AAC),
    ("aiff", AIFF),
]


def padded(sample, size):
    """`sample` grown to exactly `size` bytes with trailing zeros (after a PNG's IEND, which decoders ignore)."""
    return sample + b"\x00" * (size - len(sample))


def b64(data):
    return base64.b64encode(data).decode("ascii")


# --- shared with other test modules (was in test_vision.py) ---


def gateway_app(upstream, **overrides):
    """The gateway pointed at the stand-in, with extra settings."""
    return make_app(OPENROUTER_BASE_URL=upstream.url, OPENROUTER_API_KEY=MOCK_KEY, **overrides)


def bearer(app, sub="alice"):
    return {"Authorization": f"Bearer {token_for(app, sub)}"}


def sse_data(response):
    """The `data:` payloads of an SSE body, in order."""
    text = response.get_data(as_text=True)
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def assert_stream(response):
    """A relayed chat stream: text/event-stream, content chunks, the usage chunk, then [DONE]."""
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(item) for item in data[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.fixture
def api(gateway):
    """A test client of the gateway pointed at the stand-in (a module may define its own)."""
    return gateway.test_client()


@pytest.fixture
def alice(gateway):
    """alice's Authorization header for the gateway (a module may define its own)."""
    return bearer(gateway)


def named_cases(argnames, cases):
    """pytest.mark.parametrize over a table whose rows start with their test id."""
    return pytest.mark.parametrize(argnames, [case[1:] for case in cases], ids=[case[0] for case in cases])


def assert_refused(response, upstream, message, field=None):
    """A 400 refused before any upstream call; with `field`, the one field its details name."""
    error = assert_error(response, 400, "invalid_request_error", message)
    if field is not None:
        assert list(error["details"]) == [field]
    assert upstream.hits("/chat/completions") == 0
    return error


def assert_body_limit(upstream, url, body, content_type):
    """MAX_CONTENT_LENGTH: a body at the limit is answered, one byte over is 413 (one upstream call in all)."""
    for limit, status in ((len(body), 200), (len(body) - 1, 413)):
        app = gateway_app(upstream, MAX_CONTENT_LENGTH=limit)
        response = app.test_client().post(url, headers=bearer(app), data=body, content_type=content_type)
        if status == 413:
            assert_error(response, 413, "request_too_large", "Request body is too large")
        else:
            assert response.status_code == 200, response.get_data(as_text=True)
    assert upstream.hits("/chat/completions") == 1


def assert_json_and_multipart_documented(client, url):
    """The route's OpenAPI operation takes JSON or multipart and answers JSON or SSE; returns the operation."""
    operation = client.get("/api/v2/openrouter/openapi.json").get_json()["paths"][url]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    return operation


def encoded_form(fields):
    """(body bytes, content type) of a multipart form, built once so its exact length is known."""
    builder = EnvironBuilder(method="POST", data=fields)
    try:
        environ = builder.get_environ()
        return environ["wsgi.input"].read(), environ["CONTENT_TYPE"]
    finally:
        builder.close()


# --- shared with other test modules (was in test_chat_stream.py) ---


def idle_sockets(pool):
    """The sockets of the idle connections in a urllib3 pool (None for a closed one)."""
    return [conn.sock for conn in list(pool.pool.queue) if conn is not None]


def upstream_pool(app, url):
    """The urllib3 connection pool under the upstream client's requests session for `url`'s host."""
    import requests

    from webapp.composition import services_of

    client = services_of(app).client
    request = requests.Request("POST", url).prepare()
    return client.session.get_adapter(url).get_connection_with_tls_context(request, True, client.proxies)


# The stand-in's models outside the premium catalogue, in its own order (test_models, test_openrouter_mock).
MOCK_OTHER_MODELS = [
    "meta-llama/llama-3.3-70b-instruct:free",
    "meta-llama/llama-3.3-70b-instruct",
    "deepseek/deepseek-r1:free",
    "mistralai/voxtral-small-24b-2507",
    "qwen/qwen3.5-35b-a3b",
    "openai/gpt-4o-mini",
    "anthropic/claude-haiku-4.5",
    "~anthropic/claude-sonnet-latest",
    "openrouter/auto",
]

# --- shared with other test modules (was in test_metrics.py) ---


def samples(text):
    """{(name, frozenset(labels)): value} for every sample."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(all_samples, name, **labels):
    return all_samples.get((name, frozenset(labels.items())), 0.0)


# --- shared with other test modules (was in test_hardening.py) ---

# fault -> the status OpenRouter's answer maps to (API.md's error table)
FAULT_STATUS = {
    "400": 400,
    "400-provider": 400,
    "401": 502,
    "402": 502,
    "403": 403,
    "403-key": 502,
    "404": 400,
    "408": 504,
    "413": 413,
    "422": 400,
    "429": 429,
    "429-bare": 429,
    "500": 502,
    "502": 502,
    "503": 502,
    "524": 504,
    "529": 502,
}

# --- shared with other test modules (was in test_live.py) ---

SECRET = "live-test-secret-" + "0" * 32


def live_env(upstream_url, secret=SECRET, **overrides):
    """The environment of a production gateway under gunicorn in front of the stand-in at `upstream_url`."""
    return {
        "GATEWAY_ENV": "production",
        "JWT_SECRET_KEY": secret,
        "OPENROUTER_BASE_URL": upstream_url,
        "OPENROUTER_API_KEY": MOCK_KEY,
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "json",
        "GUNICORN_THREADS": "8",
        "REDIS_URL": "",
        **overrides,
    }


@pytest.fixture(scope="module")
def live(mock_openrouter, tmp_path_factory):
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = live_env(mock_openrouter.url, RATELIMIT_CHAT="1000/minute", RATELIMIT_STREAMING="1000/minute")
    with run_gunicorn(env, log_path=log) as (base, proc):
        yield base, log
    assert MOCK_KEY not in log.read_text(), "the OpenRouter key appeared in a log line"


def live_token(sub="alice", secret=SECRET, ttl=600, **claims):
    """An HS256 token for a gateway started with `live_env(..., secret)`."""
    return pyjwt.encode({"sub": sub, "exp": int(time.time()) + ttl, **claims}, secret, algorithm="HS256")


def live_auth(sub="alice", secret=SECRET, ttl=600):
    return {"Authorization": f"Bearer {live_token(sub, secret, ttl)}"}


def read_events(response):
    """(arrival time, event bytes) for each SSE event as it arrives from the socket."""
    buffer, out = b"", []
    for chunk in response.iter_content(chunk_size=None):
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            out.append((time.time(), event + b"\n\n"))
            yield out[-1]


# --- shared with other test modules (was in test_usage.py) ---


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 26, 23, 59, 0, tzinfo=UTC)

    def __call__(self):
        return self.now


@pytest.fixture(params=["memory", "redis"])
def usage_app(request, upstream):
    def build(**overrides):
        base = {"OPENROUTER_BASE_URL": upstream.url, "OPENROUTER_API_KEY": MOCK_KEY, **overrides}
        if request.param == "redis":
            base.update(REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=redis_url)
        app = make_app(**base)
        services_of(app).usage.clock = clock
        return app

    clock = Clock()
    if request.param == "redis":
        with run_redis() as (redis_url, _):
            yield build, clock
    else:
        redis_url = None
        yield build, clock


# --- shared by several test modules -----------------------------------------------------------------------


@pytest.fixture
def captured_logs():
    """Everything the gateway's own log handler writes, at DEBUG."""
    make_app()
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "_gateway", False))
    stream, old_stream, old_level = io.StringIO(), handler.stream, root.level
    handler.setStream(stream)
    root.setLevel(logging.DEBUG)
    yield stream
    handler.setStream(old_stream)
    root.setLevel(old_level)


class TickClock:
    """A monotonic clock the test moves by hand (`clock.now += 31`): cooldowns and TTLs without waiting."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# The fields of OpenRouter's model object, as the stand-in serves them and the catalogue passes them on.
MODEL_FIELDS = {
    "id",
    "canonical_slug",
    "hugging_face_id",
    "name",
    "created",
    "description",
    "context_length",
    "architecture",
    "pricing",
    "top_provider",
    "per_request_limits",
    "supported_parameters",
    "default_parameters",
    "expiration_date",
}
