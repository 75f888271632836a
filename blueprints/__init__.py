"""The HTTP routes, one blueprint per API area; only the factory (app.py) registers them."""
