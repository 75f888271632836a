"""marshmallow request schemas, the one body-parsing entry, and the response shapes the OpenAPI document shows."""
