"""Application factory: config → logging → extensions → errors → hooks → blueprints."""

import logging

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from core import redaction
from core.config import Config
from core.errors import NotFoundError
from services.health import is_loopback
from webapp import logs
from webapp.auth import init_jwt, resolve_jwt_settings
from webapp.cli import register_cli
from webapp.composition import install
from webapp.error_handlers import register_error_handlers
from webapp.extensions import jwt, limiter
from webapp.json_provider import OrjsonProvider
from webapp.quota_state import APP_STORAGE, current_tier, limits_from_views
from webapp.quotas import rate_limit_headers
from webapp.sessions import NoSessions

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
    app.json = OrjsonProvider(app)  # every JSON response (jsonify, errors, answers) through orjson
    app.session_interface = NoSessions()  # bearer tokens, no cookie sessions
    # A JSON API never redirects: `//chat/completions` is a 404, not a 308 whose Location a spoofed
    # X-Forwarded-Host chooses (an open redirect). Set before any rule is added; rules read them when bound.
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
    app.config.from_object(cfg)
    app.config["VERSION"] = VERSION
    jwt_settings, decode_key = resolve_jwt_settings(cfg)
    app.config.update(jwt_settings)
    # flask-limiter forwards to this app's own storage (webapp/quota_state.py); the configured URI stays readable here.
    app.config["QUOTA_STORAGE_URI"], app.config["RATELIMIT_STORAGE_URI"] = cfg.RATELIMIT_STORAGE_URI, APP_STORAGE
    if cfg.TRUSTED_PROXIES > 0:
        hops = cfg.TRUSTED_PROXIES
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)

    install(app, tier_of=current_tier)  # the composition root: every service, built once
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
    app.before_request(logs.start_request)
    app.before_request(refuse_redirects)
    app.after_request(rate_limit_headers)
    app.after_request(logs.finish_request)
    _register_blueprints(app, cfg)
    register_cli(app)
    _announce_upstream(cfg)
    return app


def refuse_redirects():
    """Any redirect routing would still answer (a rule ending in `/` asked without it) is a JSON 404."""
    if isinstance(request.routing_exception, RequestRedirect):
        raise NotFoundError("No such route; see /api/v2/openrouter/docs")


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
