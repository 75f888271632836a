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
        self.OPENROUTER_EMBEDDING_MODEL = get("OPENROUTER_EMBEDDING_MODEL") or "openai/text-embedding-3-small"
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
        # Sockets per worker to Redis: a gevent worker's greenlets take turns on these (services/redis_state.py).
        self.REDIS_MAX_CONNECTIONS = _int(env, "REDIS_MAX_CONNECTIONS", 64)
        self.RATELIMIT_STORAGE_URI = get("RATELIMIT_STORAGE_URI") or self.REDIS_URL or "memory://"
        self.RATELIMIT_ENABLED = _bool(get("RATELIMIT_ENABLED", "true"))
        self.RATELIMIT_FAIL_OPEN = _bool(get("RATELIMIT_FAIL_OPEN", "false"))
        self.RATELIMIT_CHAT = get("RATELIMIT_CHAT") or "30/minute"
        self.RATELIMIT_STREAMING = get("RATELIMIT_STREAMING") or "20/minute"
        self.RATELIMIT_VISION = get("RATELIMIT_VISION") or "15/minute"
        self.RATELIMIT_AUDIO = get("RATELIMIT_AUDIO") or "10/minute"
        self.RATELIMIT_FUNCTION_CALLING = get("RATELIMIT_FUNCTION_CALLING") or "20/minute"
        self.RATELIMIT_EMBEDDINGS = get("RATELIMIT_EMBEDDINGS") or "60/minute"
        self.QUOTA_TIER_CLAIM = get("QUOTA_TIER_CLAIM") or "tier"
        self.QUOTA_TIERS = get("QUOTA_TIERS") or None  # JSON text; parsed (and checked) by validate()
        self.ADMIN_ROLE = get("ADMIN_ROLE") or "gateway-admin"
        self.MAX_CONCURRENT_PER_USER = _int(env, "MAX_CONCURRENT_PER_USER", 8)
        # Seconds a concurrency slot outlives a host that died mid-call (default: 2 x OPENROUTER_TIMEOUT + 30 s).
        self.CONCURRENCY_SLOT_TTL = _float(env, "CONCURRENCY_SLOT_TTL", None)
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 40 * MIB)
        self.MAX_IMAGE_BYTES = _int(env, "MAX_IMAGE_BYTES", 20 * MIB)
        self.MAX_AUDIO_BYTES = _int(env, "MAX_AUDIO_BYTES", 15 * MIB)
        self.MODELS_CACHE_TTL = _float(env, "MODELS_CACHE_TTL", 300.0)
        self.TOOL_SESSION_TTL = _int(env, "TOOL_SESSION_TTL", 900)
        self.MAX_TOOL_SESSIONS_PER_USER = _int(env, "MAX_TOOL_SESSIONS_PER_USER", 16)
        self.MAX_TOOL_SESSION_BYTES = _int(env, "MAX_TOOL_SESSION_BYTES", 8 * MIB)
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
        self.JWT_JWKS_URL = env.get("JWT_JWKS_URL") or None
        self.JWT_OIDC_ISSUER = env.get("JWT_OIDC_ISSUER") or None  # kept as given: Auth0's ends with "/"
        self.JWT_JWKS_CACHE_TTL = _float(env, "JWT_JWKS_CACHE_TTL", 300.0)

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
        self._validate_identity_provider()
        if not self.JWT_SECRET_KEY and not self.JWT_PUBLIC_KEY and not self.uses_identity_provider:
            if self.is_production:
                raise ConfigError(
                    "JWT_SECRET_KEY, JWT_PUBLIC_KEY, JWT_JWKS_URL or JWT_OIDC_ISSUER must be set in production"
                )
            self.JWT_SECRET_KEY = secrets.token_urlsafe(48)
        if self.is_production and self.JWT_SECRET_KEY and len(self.JWT_SECRET_KEY.encode()) < 32:
            raise ConfigError("JWT_SECRET_KEY must be at least 32 bytes in production")
        if self.LOG_FORMAT not in {"json", "text"}:
            raise ConfigError("LOG_FORMAT must be json or text")
        if self.MAX_TOOL_SESSIONS_PER_USER < 1 or self.MAX_TOOL_SESSION_BYTES < 1024:
            raise ConfigError("MAX_TOOL_SESSIONS_PER_USER must be at least 1 and MAX_TOOL_SESSION_BYTES at least 1024")
        if self.CONCURRENCY_SLOT_TTL is not None and self.CONCURRENCY_SLOT_TTL <= 0:
            raise ConfigError("CONCURRENCY_SLOT_TTL must be a positive number of seconds")
        if self.REDIS_MAX_CONNECTIONS < 1:
            raise ConfigError("REDIS_MAX_CONNECTIONS must be at least 1")
        if self.OPENROUTER_TIMEOUT <= 0 or self.OPENROUTER_CONNECT_TIMEOUT <= 0:
            raise ConfigError("OPENROUTER_TIMEOUT and OPENROUTER_CONNECT_TIMEOUT must be positive")
        self._validate_limits()
        return self

    @property
    def uses_identity_provider(self):
        """Keys come from a JWKS (given, or found through OIDC discovery)."""
        return bool(self.JWT_JWKS_URL or self.JWT_OIDC_ISSUER)

    def _validate_identity_provider(self):
        if not self.uses_identity_provider:
            return
        if self.JWT_SECRET_KEY or self.JWT_PUBLIC_KEY:
            raise ConfigError(
                "JWT_JWKS_URL / JWT_OIDC_ISSUER and JWT_SECRET_KEY / JWT_PUBLIC_KEY exclude each other: set one"
            )
        for name in ("JWT_JWKS_URL", "JWT_OIDC_ISSUER"):
            value = getattr(self, name)
            if value and not value.startswith(("https://", "http://")):
                raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
        if self.JWT_OIDC_ISSUER and self.JWT_ISSUER and self.JWT_ISSUER != self.JWT_OIDC_ISSUER:
            raise ConfigError("JWT_ISSUER differs from JWT_OIDC_ISSUER; set only JWT_OIDC_ISSUER")
        if self.JWT_JWKS_CACHE_TTL <= 0:
            raise ConfigError("JWT_JWKS_CACHE_TTL must be a positive number of seconds")

    def _validate_limits(self):
        """Every rate limit and tier parsed now: a typo refuses to start, naming the setting."""
        from services.identity import BUCKETS, IdentitySettingError, check_rate_limit, parse_tiers

        try:
            for setting in BUCKETS.values():
                check_rate_limit(setting, getattr(self, setting))
            self.QUOTA_TIERS = parse_tiers(self.QUOTA_TIERS)
        except IdentitySettingError as exc:
            raise ConfigError(str(exc)) from None


class TestConfig(Config):
    """Deterministic settings for the test suite: no environment, no `.env`; keywords override."""

    __test__ = False
    TESTING = True

    def __init__(self, **overrides):
        environ = {
            "GATEWAY_ENV": "testing",
            "JWT_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            "OPENROUTER_API_KEY": "sk-or-v1-test",
            "OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",
            "LOG_LEVEL": "WARNING",
        }
        # Text overrides are parsed as the environment would be (REDIS_URL also moves RATELIMIT_STORAGE_URI);
        # others (numbers, lists, None) and names Config does not read are set as given.
        environ.update({name: value for name, value in overrides.items() if isinstance(value, str)})
        super().__init__(environ=environ)
        for name, value in overrides.items():
            if not isinstance(value, str) or not hasattr(self, name):
                setattr(self, name, value)
        self._derive()
