"""Flask-free foundations every layer uses: settings, the error tree, redaction, the metric definitions and a
socket readiness check that does not go through the gevent hub."""
