"""The Flask glue: composition root, authentication, quotas, error rendering, logs, OpenAPI and the CLI."""
