"""OpenAPI 3 from the same marshmallow schemas that validate, via apispec; views declare it with `doc`."""

import re

from schemas.common import AnthropicErrorSchema, ErrorSchema

ERROR_STATUSES = {
    400: "Invalid request",
    401: "Missing or invalid token",
    403: "Model not allowed or moderated",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    429: "Rate limited",
    502: "Upstream error",
    503: "Unavailable",
    504: "Upstream timeout",
}


def doc(
    summary=None, body=None, query=None, responses=None, errors=(), auth=True, tags=None, content=None, anthropic=False
):
    """Attach OpenAPI metadata to a view; `build_spec` reads it back from the registered view.

    `anthropic`: the route answers errors in Anthropic's envelope and also takes the token as `x-api-key`.
    """

    def decorate(view):
        view._api_doc = {
            "summary": summary,
            "body": body,
            "query": query,
            "responses": responses or {},
            "errors": errors,
            "auth": auth,
            "tags": tags,
            "content": content,
            "anthropic": anthropic,
        }
        return view

    return decorate


def _path(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _operation(view, rule, spec_doc):
    summary = spec_doc["summary"] or (view.__doc__ or "").strip().splitlines()[0]
    op = {"summary": summary, "responses": {}}
    if spec_doc["tags"]:
        op["tags"] = spec_doc["tags"]
    string = {"type": "string"}
    params = [{"in": "path", "name": a, "required": True, "schema": string} for a in sorted(rule.arguments)]
    if spec_doc["query"]:
        params.append({"in": "query", "schema": spec_doc["query"]})
    if params:
        op["parameters"] = params
    if spec_doc["content"]:
        op["requestBody"] = {"required": True, "content": spec_doc["content"]}
    elif spec_doc["body"]:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": spec_doc["body"]}}}
    for status, response in spec_doc["responses"].items():
        op["responses"][str(status)] = (
            response
            if isinstance(response, dict)
            else {"description": "OK", "content": {"application/json": {"schema": response}}}
        )
    error_codes = set(spec_doc["errors"]) | ({401} if spec_doc["auth"] else set())
    prefix = "AnthropicError" if spec_doc.get("anthropic") else "Error"
    for status in sorted(error_codes):
        op["responses"][str(status)] = {"$ref": f"#/components/responses/{prefix}{status}"}
    if spec_doc["auth"]:
        op["security"] = [{"bearerAuth": []}, {"apiKeyAuth": []}] if spec_doc.get("anthropic") else [{"bearerAuth": []}]
    return op


def build_spec(app):
    """The service's OpenAPI document, built from the routes that declared themselves with `doc`."""
    from apispec import APISpec  # only when the document is first asked for: no cost to a worker that never is
    from apispec.ext.marshmallow import MarshmallowPlugin

    spec = APISpec(
        title="OpenRouter gateway",
        version=app.config.get("VERSION", "2.0.0"),
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Authenticated, rate-limited, OpenAI-compatible door to OpenRouter."},
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("apiKeyAuth", {"type": "apiKey", "in": "header", "name": "x-api-key"})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("AnthropicError", schema=AnthropicErrorSchema)
    for status, text in ERROR_STATUSES.items():
        for name in ("Error", "AnthropicError"):
            spec.components.response(
                f"{name}{status}", {"description": text, "content": {"application/json": {"schema": name}}}
            )
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        spec_doc = getattr(view, "_api_doc", None)
        if spec_doc is None:
            continue
        methods = sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
        spec.path(path=_path(rule), operations={m: _operation(view, rule, spec_doc) for m in methods})
    return spec.to_dict()
