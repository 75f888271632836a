"""The one accessor to an app's Services (services/container.py builds them): typed, not string keys."""

from flask import current_app

from services.container import Services, build_services

KEY = "gateway_services"


def install(app, tier_of):
    """Build this app's Services from its config, once, and keep them on the app."""
    services = build_services(app.config, tier_of)
    app.extensions[KEY] = services
    return services


def services_of(app) -> Services:
    """The Services of `app` (tests and the CLI hold an app, not a request)."""
    return app.extensions[KEY]


def current_services() -> Services:
    """The Services of the app handling this request."""
    return current_app.extensions[KEY]
