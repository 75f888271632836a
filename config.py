"""Settings: API.md's Configuration table, read from the environment (and `.env` when present)."""

import os
import secrets
from pathlib import Path

from dotenv import dotenv_values

MIB = 1024 * 1024


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the service refuses to start."""


def _bool(value):
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _list(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _int(env, name, default):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env, name, default):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def read_environment():
    """The process environment over the values of `.env` in the working directory, if any."""
    dotenv = Path.cwd() / ".env"
    values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else {}
    values.update(os.environ)
    return values


class Config:
    """Every setting of API.md with its default; `environ` replaces the process environment."""

    TESTING = False

    def __init__(self, environ=None):
        env = read_environment() if environ is None else dict(environ)
        get = env.get
        self.GATEWAY_ENV = get("GATEWAY_ENV", "production").strip().lower()
        self.OPENROUTER_API_KEY = get("OPENROUTER_API_KEY") or None
        self.OPENROUTER_BASE_URL = (get("OPENROUTER_BASE_URL") or "https://openrouter.ai/api/v1").rstrip("/")
        self.OPENROUTER_DEFAULT_MODEL = get("OPENROUTER_DEFAULT_MODEL") or "anthropic/claude-sonnet-4.5"
        self.OPENROUTER_VISION_MODEL = get("OPENROUTER_VISION_MODEL") or "openai/gpt-4o"
        self.OPENROUTER_AUDIO_MODEL = get("OPENROUTER_AUDIO_MODEL") or "google/gemini-2.5-flash"
        self.OPENROUTER_FALLBACK_MODELS = _list(get("OPENROUTER_FALLBACK_MODELS"))
        self.OPENROUTER_SITE_URL = get("OPENROUTER_SITE_URL") or None
        self.OPENROUTER_SITE_NAME = get("OPENROUTER_SITE_NAME") or None
        self.OPENROUTER_TIMEOUT = _int(env, "OPENROUTER_TIMEOUT", 120000)
        self.OPENROUTER_CONNECT_TIMEOUT = _int(env, "OPENROUTER_CONNECT_TIMEOUT", 10000)
        self.DEFAULT_MAX_TOKENS = _int(env, "DEFAULT_MAX_TOKENS", 4096)
        self.MAX_TOKENS_LIMIT = _int(env, "MAX_TOKENS_LIMIT", None)
        self.ALLOWED_MODELS = _list(get("ALLOWED_MODELS"))
        self._read_jwt(env)
        self.REDIS_URL = get("REDIS_URL") or None
        self.RATELIMIT_STORAGE_URI = get("RATELIMIT_STORAGE_URI") or self.REDIS_URL or "memory://"
        self.RATELIMIT_ENABLED = _bool(get("RATELIMIT_ENABLED", "true"))
        self.RATELIMIT_FAIL_OPEN = _bool(get("RATELIMIT_FAIL_OPEN", "false"))
        self.RATELIMIT_CHAT = get("RATELIMIT_CHAT") or "30/minute"
        self.RATELIMIT_STREAMING = get("RATELIMIT_STREAMING") or "20/minute"
        self.RATELIMIT_VISION = get("RATELIMIT_VISION") or "15/minute"
        self.RATELIMIT_AUDIO = get("RATELIMIT_AUDIO") or "10/minute"
        self.RATELIMIT_FUNCTION_CALLING = get("RATELIMIT_FUNCTION_CALLING") or "20/minute"
        self.MAX_CONCURRENT_PER_USER = _int(env, "MAX_CONCURRENT_PER_USER", 8)
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 40 * MIB)
        self.MAX_IMAGE_BYTES = _int(env, "MAX_IMAGE_BYTES", 20 * MIB)
        self.MAX_AUDIO_BYTES = _int(env, "MAX_AUDIO_BYTES", 15 * MIB)
        self.MODELS_CACHE_TTL = _float(env, "MODELS_CACHE_TTL", 300.0)
        self.TOOL_SESSION_TTL = _int(env, "TOOL_SESSION_TTL", 900)
        self.USER_DAILY_BUDGET_USD = _float(env, "USER_DAILY_BUDGET_USD", None)
        self.METRICS_TOKEN = get("METRICS_TOKEN") or None
        self.TRUSTED_PROXIES = _int(env, "TRUSTED_PROXIES", 1)
        # A client must send its request head within this many seconds, and its body without a gap longer
        # than the other (the gevent worker enforces them; a trickling client would hold a connection).
        # Calls one gevent worker may hold at once; the upstream connection pool is sized to match.
        self.GUNICORN_WORKER_CONNECTIONS = _int(env, "GUNICORN_WORKER_CONNECTIONS", 2000)
        self.CLIENT_HEADER_TIMEOUT = _float(env, "CLIENT_HEADER_TIMEOUT", 10.0)
        self.CLIENT_BODY_TIMEOUT = _float(env, "CLIENT_BODY_TIMEOUT", 30.0)
        # Development logs verbosely unless told otherwise.
        self.LOG_LEVEL = (get("LOG_LEVEL") or ("DEBUG" if self.GATEWAY_ENV == "development" else "INFO")).upper()
        self.LOG_FORMAT = (get("LOG_FORMAT") or "json").lower()
        self._derive()

    def _read_jwt(self, env):
        self.JWT_SECRET_KEY = env.get("JWT_SECRET_KEY") or None
        self.JWT_PUBLIC_KEY = (env.get("JWT_PUBLIC_KEY") or "").replace("\\n", "\n") or None
        self.JWT_ALGORITHM = env.get("JWT_ALGORITHM") or None
        self.JWT_AUDIENCE = env.get("JWT_AUDIENCE") or None
        self.JWT_ISSUER = env.get("JWT_ISSUER") or None
        self.JWT_LEEWAY = _int(env, "JWT_LEEWAY", 30)

    def _derive(self):
        """Settings that follow from others: multipart limits sized to the media limits."""
        largest = max(self.MAX_IMAGE_BYTES, self.MAX_AUDIO_BYTES)
        # A base64 form field is 4/3 of its bytes; files are streamed to disk, not held in memory.
        self.MAX_FORM_MEMORY_SIZE = largest * 4 // 3 + 64 * 1024
        self.MAX_FORM_PARTS = 64

    @property
    def is_production(self):
        """Only `development` (and the test suite's `testing`) relaxes what production refuses."""
        return self.GATEWAY_ENV not in ("development", "testing")

    def validate(self):
        """Refuse settings a deployment must not run with; fill development defaults."""
        if self.GATEWAY_ENV not in ("production", "development", "testing"):
            raise ConfigError(f"GATEWAY_ENV must be production or development, got {self.GATEWAY_ENV!r}")
        if not self.JWT_SECRET_KEY and not self.JWT_PUBLIC_KEY:
            if self.is_production:
                raise ConfigError("JWT_SECRET_KEY or JWT_PUBLIC_KEY must be set in production")
            self.JWT_SECRET_KEY = secrets.token_urlsafe(48)
        if self.is_production and self.JWT_SECRET_KEY and len(self.JWT_SECRET_KEY.encode()) < 32:
            raise ConfigError("JWT_SECRET_KEY must be at least 32 bytes in production")
        if self.LOG_FORMAT not in {"json", "text"}:
            raise ConfigError("LOG_FORMAT must be json or text")
        if self.OPENROUTER_TIMEOUT <= 0 or self.OPENROUTER_CONNECT_TIMEOUT <= 0:
            raise ConfigError("OPENROUTER_TIMEOUT and OPENROUTER_CONNECT_TIMEOUT must be positive")
        return self


class TestConfig(Config):
    """Deterministic settings for the test suite: no environment, no `.env`; keywords override."""

    __test__ = False
    TESTING = True

    def __init__(self, **overrides):
        super().__init__(
            environ={
                "GATEWAY_ENV": "testing",
                "JWT_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
                "OPENROUTER_API_KEY": "sk-or-v1-test",
                "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",
                "LOG_LEVEL": "WARNING",
            }
        )
        for name, value in overrides.items():
            setattr(self, name, value)
        self._derive()
