"""Application factory: config → logging → extensions → errors → hooks → blueprints."""

import logging
import time

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

import logs
import redaction
from auth import init_jwt, resolve_jwt_settings
from cli import register_cli
from config import Config
from errors import NotFoundError, register_error_handlers
from extensions import jwt, limiter
from quota_state import APP_STORAGE, QuotaState, current_tier, limits_from_views
from quotas import rate_limit_headers
from services.catalogue import ModelCatalogue
from services.concurrency import LocalConcurrency, RedisConcurrency
from services.health import UpstreamProbe, is_loopback
from services.quota_storage import LeanMemoryStorage
from services.tool_sessions import MemorySessionStore
from services.usage import MemoryUsage, RedisUsage
from upstream.client import OpenRouterClient

API_PREFIX = "/api/v2/openrouter"
VERSION = "2.0.0"
log = logging.getLogger("gateway")


def create_app(config=None):
    """Build the gateway; `config` is a Config instance or class (default: from the environment)."""
    cfg = config() if isinstance(config, type) else (config or Config())
    cfg.validate()
    redaction.register(cfg.OPENROUTER_API_KEY)  # errors and log lines never carry it
    logs.configure_logging(cfg)
    app = Flask(__name__)
    # A JSON API never redirects: `//chat/completions` is a 404, not a 308 whose Location a spoofed
    # X-Forwarded-Host chooses (an open redirect). Set before any rule is added; rules read them when bound.
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
    app.config.from_object(cfg)
    app.config["VERSION"] = VERSION
    app.json.sort_keys = False
    jwt_settings, decode_key = resolve_jwt_settings(cfg)
    app.config.update(jwt_settings)
    # flask-limiter forwards to this app's own storage (quota_state.py); the configured URI stays readable here.
    app.config["QUOTA_STORAGE_URI"], app.config["RATELIMIT_STORAGE_URI"] = cfg.RATELIMIT_STORAGE_URI, APP_STORAGE
    if cfg.TRUSTED_PROXIES > 0:
        hops = cfg.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)

    init_jwt(app, jwt, decode_key)
    # flask-limiter's own switch is process-wide (its first init_app wins); this app's RATELIMIT_ENABLED is
    # applied per request by the limiter's request filter instead (quota_state.exempt).
    enabled, app.config["RATELIMIT_ENABLED"] = app.config["RATELIMIT_ENABLED"], True
    limiter.init_app(app)
    app.config["RATELIMIT_ENABLED"] = enabled
    # Every limit is declared on its route and checked there, after authentication; flask-limiter's own
    # before_request pass (application/default limits, of which there are none) is exempt up to this hook.
    app.before_request(limits_from_views)
    register_error_handlers(app)
    _init_services(app)
    app.before_request(logs.start_request)
    app.before_request(refuse_redirects)
    app.after_request(rate_limit_headers)
    app.after_request(logs.finish_request)
    _register_blueprints(app, cfg)
    register_cli(app)
    _announce_upstream(cfg)
    return app


def _init_services(app):
    client = OpenRouterClient(app.config)
    app.extensions["openrouter"] = client
    app.extensions["upstream_probe"] = UpstreamProbe(client)
    app.extensions["catalogue"] = ModelCatalogue(
        # Its own short timeout: the one caller refreshing the list must not wait like a model call.
        fetch=lambda: client.get_json("/models", timeout=(3, 8), attempts=1),
        ttl=app.config["MODELS_CACHE_TTL"],
    )
    app.extensions["started_at"] = time.monotonic()
    memory_ok = lambda: {"status": "ok", "backend": "memory"}  # noqa: E731
    checks = app.extensions["storage_checks"] = {"rate_limit_storage": memory_ok, "session_store": memory_ok}
    redis_url, quota_uri = app.config["REDIS_URL"], app.config["QUOTA_STORAGE_URI"]
    shared = None
    caps = {"max_per_user": app.config["MAX_TOOL_SESSIONS_PER_USER"], "max_bytes": app.config["MAX_TOOL_SESSION_BYTES"]}
    if redis_url:
        from services.redis_sessions import RedisSessionStore  # redis is loaded only when configured
        from services.redis_state import make_redis, redis_check

        shared = app.extensions["redis"] = make_redis(redis_url, app.config["REDIS_MAX_CONNECTIONS"])
        lease = app.config["CONCURRENCY_SLOT_TTL"] or 2 * app.config["OPENROUTER_TIMEOUT"] / 1000 + 30
        app.extensions["concurrency"] = RedisConcurrency(shared, lease)
        app.extensions["usage"] = RedisUsage(shared, tier_of=current_tier)
        lease = 2 * app.config["OPENROUTER_TIMEOUT"] / 1000 + 30  # a submit's model calls stop by the deadline
        app.extensions["tool_sessions"] = RedisSessionStore(shared, app.config["TOOL_SESSION_TTL"], lease, **caps)
        checks["session_store"] = lambda: redis_check(shared)
        if quota_uri == redis_url:  # one Redis: one ping answers for both
            checks["rate_limit_storage"] = checks["session_store"]
    else:
        app.extensions["concurrency"] = LocalConcurrency()
        app.extensions["usage"] = MemoryUsage(tier_of=current_tier)
        app.extensions["tool_sessions"] = MemorySessionStore(ttl=app.config["TOOL_SESSION_TTL"], **caps)
    storage = _quota_storage(quota_uri, redis_url, shared, app.config["REDIS_MAX_CONNECTIONS"])
    combined = shared is not None and quota_uri == redis_url
    app.extensions["quota_state"] = QuotaState(storage, app.config["RATELIMIT_FAIL_OPEN"], combined)
    if quota_uri not in ("memory://", redis_url):
        checks["rate_limit_storage"] = lambda: _limiter_check(storage)


def _quota_storage(uri, redis_url, shared, max_connections):
    """This app's rate-limit storage: ours for memory and Redis (Redis's clock, shared client), else limits'."""
    from services.quota_storage import RedisQuotaStorage

    if uri == "memory://":
        return LeanMemoryStorage()
    if uri == redis_url:
        return RedisQuotaStorage(shared)
    if uri.startswith(("redis://", "rediss://", "unix://")):
        from services.redis_state import make_redis

        return RedisQuotaStorage(make_redis(uri, max_connections))
    from limits.storage import storage_from_string

    return storage_from_string(uri)


def refuse_redirects():
    """Any redirect routing would still answer (a rule ending in `/` asked without it) is a JSON 404."""
    if isinstance(request.routing_exception, RequestRedirect):
        raise NotFoundError("No such route; see /api/v2/openrouter/docs")


def _limiter_check(storage):
    try:
        ok = storage.check()
    except Exception:  # the storage's own error types vary by backend
        ok = False
    return {"status": "ok" if ok else "down", "backend": "redis"}


def _register_blueprints(app, cfg):
    from blueprints import (
        audio,
        chat,
        docs,
        embeddings,
        health,
        messages,
        metrics,
        models,
        responses_api,
        tools,
        usage,
        vision,
    )

    core = (health, docs, metrics, chat, models, vision, audio, tools, usage)
    for module in (*core, responses_api, messages, embeddings):
        app.register_blueprint(module.bp, url_prefix=API_PREFIX)
    if cfg.TESTING:
        from tests import quota_probe

        app.register_blueprint(quota_probe.bp, url_prefix=API_PREFIX)


def _announce_upstream(cfg):
    if is_loopback(cfg.OPENROUTER_BASE_URL) and not cfg.TESTING:
        log.warning("UPSTREAM IS A LOOPBACK STAND-IN, NOT OPENROUTER: %s", cfg.OPENROUTER_BASE_URL)
    if not cfg.OPENROUTER_API_KEY:
        log.warning("OPENROUTER_API_KEY is not set: upstream calls answer 503 and /health is degraded")
