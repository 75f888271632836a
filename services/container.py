"""The composition root's product: one typed Services object built once per app from its settings.

Flask-free: the factory passes its settings mapping (app.config) and the few request-aware callables
(the caller's tier); views reach the result through `webapp.composition.current_services()`.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from services.catalogue import ModelCatalogue
from services.concurrency import LocalConcurrency, RedisConcurrency
from services.health import UpstreamProbe
from services.quota_storage import LeanMemoryStorage
from services.tool_sessions import MemorySessionStore
from services.usage import MemoryUsage, RedisUsage
from upstream.client import OpenRouterClient


@dataclass
class QuotaState:
    """One app's quota machinery; `combined` when the rate limits live in the Redis of the slots."""

    storage: object
    fail_open: bool
    combined: bool


@dataclass
class Services:
    """Everything a request may need, built once per app (never per request, never at import)."""

    client: OpenRouterClient
    probe: UpstreamProbe
    catalogue: ModelCatalogue
    concurrency: Any  # LocalConcurrency or RedisConcurrency
    usage: Any  # MemoryUsage or RedisUsage
    tool_sessions: Any  # MemorySessionStore or RedisSessionStore
    quota_state: QuotaState
    storage_checks: dict
    started_at: float = field(default_factory=time.monotonic)
    redis: Any = None  # the guarded client shared by slots, usage, sessions (and quotas on the same URL)
    jwks: Any = None  # the identity provider's KeySet, when tokens are verified against a JWKS
    verified_tokens: Any = None  # auth.VerifiedTokens, set by init_jwt
    key_for: Any = None  # header -> the key that verifies a token, set by init_jwt
    openapi_spec: dict | None = None  # built on first request (it reads the registered views)


def _memory_ok():
    return {"status": "ok", "backend": "memory"}


def build_services(settings, tier_of):
    """Services for `settings` (app.config): the Redis builder when REDIS_URL is set, else the memory one."""
    client = OpenRouterClient(settings)
    catalogue = ModelCatalogue(
        # Its own short timeout: the one caller refreshing the list must not wait like a model call.
        fetch=lambda: client.get_json("/models", timeout=(3, 8), attempts=1),
        ttl=settings["MODELS_CACHE_TTL"],
    )
    build = _redis_parts if settings["REDIS_URL"] else _memory_parts
    parts = build(settings, tier_of)
    quota_uri = settings["QUOTA_STORAGE_URI"]
    storage = _quota_storage(quota_uri, settings, parts.get("redis"))
    combined = parts.get("redis") is not None and quota_uri == settings["REDIS_URL"]
    checks = parts.pop("checks")
    if quota_uri not in ("memory://", settings["REDIS_URL"]):
        checks["rate_limit_storage"] = lambda: _limiter_check(storage)
    return Services(
        client=client,
        probe=UpstreamProbe(client),
        catalogue=catalogue,
        quota_state=QuotaState(storage, settings["RATELIMIT_FAIL_OPEN"], combined),
        storage_checks=checks,
        **parts,
    )


def _session_caps(settings):
    return {"max_per_user": settings["MAX_TOOL_SESSIONS_PER_USER"], "max_bytes": settings["MAX_TOOL_SESSION_BYTES"]}


def _memory_parts(settings, tier_of):
    """One process's state: slots, usage and sessions in memory."""
    return {
        "concurrency": LocalConcurrency(),
        "usage": MemoryUsage(tier_of=tier_of),
        "tool_sessions": MemorySessionStore(ttl=settings["TOOL_SESSION_TTL"], **_session_caps(settings)),
        "checks": {"rate_limit_storage": _memory_ok, "session_store": _memory_ok},
    }


def _redis_parts(settings, tier_of):
    """State shared by every worker and host: one guarded Redis client behind slots, usage and sessions."""
    from services.redis_sessions import RedisSessionStore  # redis is loaded only when configured
    from services.redis_state import make_redis, redis_check

    redis_url = settings["REDIS_URL"]
    shared = make_redis(redis_url, settings["REDIS_MAX_CONNECTIONS"])
    timeout_s = settings["OPENROUTER_TIMEOUT"] / 1000
    slot_lease = settings["CONCURRENCY_SLOT_TTL"] or 2 * timeout_s + 30
    submit_lease = 2 * timeout_s + 30  # a submit's model calls stop by the deadline
    sessions = RedisSessionStore(shared, settings["TOOL_SESSION_TTL"], submit_lease, **_session_caps(settings))
    check = lambda: redis_check(shared)  # noqa: E731
    # One Redis behind both: one ping answers for both.
    quota_check = check if settings["QUOTA_STORAGE_URI"] == redis_url else _memory_ok
    return {
        "redis": shared,
        "concurrency": RedisConcurrency(shared, slot_lease),
        "usage": RedisUsage(shared, tier_of=tier_of),
        "tool_sessions": sessions,
        "checks": {"rate_limit_storage": quota_check, "session_store": check},
    }


def _quota_storage(uri, settings, shared):
    """This app's rate-limit storage: ours for memory and Redis (Redis's clock, shared client), else limits'."""
    from services.quota_storage import RedisQuotaStorage

    if uri == "memory://":
        return LeanMemoryStorage()
    if uri == settings["REDIS_URL"]:
        return RedisQuotaStorage(shared)
    if uri.startswith(("redis://", "rediss://", "unix://")):
        from services.redis_state import make_redis

        return RedisQuotaStorage(make_redis(uri, settings["REDIS_MAX_CONNECTIONS"]))
    from limits.storage import storage_from_string

    return storage_from_string(uri)


def _limiter_check(storage):
    try:
        ok = storage.check()
    except Exception:  # the storage's own error types vary by backend
        ok = False
    return {"status": "ok" if ok else "down", "backend": "redis"}
