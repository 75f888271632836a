"""Flask extensions, created unbound here and bound to an app in the factory."""

from flask_jwt_extended import JWTManager
from flask_limiter import Limiter

from webapp.quota_state import exempt, limit_key

jwt = JWTManager()
# No default limits: every limit is declared on its route, below the auth check, keyed by the JWT sub.
limiter = Limiter(key_func=limit_key, headers_enabled=False, strategy="moving-window")
# Per app: quotas switched off, and flask-limiter's before_request pass (every limit is checked on its route).
limiter.request_filter(exempt)
