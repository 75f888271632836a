"""The OpenAPI document is valid, lists the routes, and the docs page is served from installed files."""

from openapi_spec_validator import validate


def test_openapi_is_valid(client):
    response = client.get("/api/v2/openrouter/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/api/v2/openrouter/health" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_docs_page_and_assets(client):
    page = client.get("/api/v2/openrouter/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert b"docs/static/swagger-ui-bundle.js" in page.data
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/api/v2/openrouter/docs/static/{asset}")
        assert response.status_code == 200
        assert len(response.data) > 10000
    assert client.get("/api/v2/openrouter/docs/static/../../app.py").status_code == 404
