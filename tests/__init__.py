"""The test suite: fixtures and helpers in conftest.py, real servers in servers.py, one module per feature."""
