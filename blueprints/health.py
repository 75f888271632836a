"""Liveness and readiness probes: no auth, never rate limited, never waiting on OpenRouter."""

import time

from flask import Blueprint, current_app, jsonify

from webapp.composition import current_services
from webapp.openapi import doc

bp = Blueprint("health", __name__)


@bp.get("/health/live")
@doc(auth=False, tags=["health"], responses={200: {"description": "The process answers"}})
def live():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@bp.get("/health")
@doc(
    auth=False,
    tags=["health"],
    responses={200: {"description": "ok or degraded"}, 503: {"description": "down: shared state unavailable"}},
)
def ready():
    """Readiness: upstream, rate-limit storage and session store."""
    services, done = current_services(), {}
    checks = {"upstream": services.probe.status()}
    for name in ("rate_limit_storage", "session_store"):
        check = services.storage_checks[name]
        if check not in done:  # the same Redis behind both is asked once (a frozen one costs its timeout)
            done[check] = check()
        checks[name] = done[check]
    if services.jwks is not None:  # keys from an identity provider: degraded while the last fetch failed
        checks["identity_provider"] = services.jwks.status()
    storage_down = any(checks[name]["status"] == "down" for name in ("rate_limit_storage", "session_store"))
    degraded = any(check["status"] == "degraded" for check in checks.values())
    if storage_down and not current_app.config["RATELIMIT_FAIL_OPEN"]:
        status = "down"
    elif storage_down or degraded:
        status = "degraded"
    else:
        status = "ok"
    body = {
        "status": status,
        "version": current_app.config["VERSION"],
        "uptime_s": round(time.monotonic() - services.started_at, 1),
        "checks": checks,
    }
    return jsonify(body), 503 if status == "down" else 200
