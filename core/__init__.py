"""Flask-free foundations every layer uses: settings, the error tree, redaction and the metric definitions."""
