"""The OpenAPI document and a human docs page, served from installed files (no CDN)."""

from flask import Blueprint, current_app, jsonify, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from webapp.composition import current_services
from webapp.openapi import build_spec

bp = Blueprint("docs", __name__)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>OpenRouter gateway API</title>
<link rel="stylesheet" href="docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "openapi.json", dom_id: "#ui"});</script>
</body></html>"""


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3 document."""
    services = current_services()
    if services.openapi_spec is None:
        services.openapi_spec = build_spec(current_app)
    return jsonify(services.openapi_spec)


@bp.get("/docs")
def docs_page():
    """Swagger UI for the OpenAPI document."""
    return current_app.response_class(PAGE, mimetype="text/html")


@bp.get("/docs/static/<path:filename>")
def docs_static(filename):
    """Swagger UI's own files, from the installed swagger-ui-bundle package."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
