"""JWT verification as API.md's Authentication section describes it, and the identity quotas key on."""

import hashlib
import time
from functools import wraps

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app, g, request
from flask_jwt_extended import get_jwt, get_jwt_header, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    InvalidHeaderError,
    JWTDecodeError,
    NoAuthorizationError,
    UserClaimsVerificationError,
    WrongTokenError,
)
from jwt.exceptions import InvalidSubjectError

from core.config import ConfigError
from core.errors import AuthenticationError, PermissionDeniedError
from services.identity import is_admin
from services.jwks import ASYMMETRIC_ALGORITHMS, KeyAlgorithmError, KeySet, ProviderFetcher, UnknownKeyError
from webapp.composition import current_services, services_of
from webapp.error_handlers import render_error

HS_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")


def resolve_jwt_settings(cfg):
    """flask-jwt-extended settings for exactly one algorithm, chosen from the key material (or a JWKS)."""
    if cfg.uses_identity_provider:
        return _identity_provider_settings(cfg)
    if cfg.JWT_PUBLIC_KEY:
        try:
            key = load_pem_public_key(cfg.JWT_PUBLIC_KEY.encode())
        except ValueError as exc:
            raise ConfigError(f"JWT_PUBLIC_KEY is not a PEM public key: {exc}") from None
        if isinstance(key, rsa.RSAPublicKey):
            allowed, default = RSA_ALGORITHMS, "RS256"
        elif isinstance(key, ec.EllipticCurvePublicKey):
            allowed, default = EC_ALGORITHMS, "ES256"
        else:
            raise ConfigError("JWT_PUBLIC_KEY must be an RSA or EC public key")
        decode_key = key
    else:
        allowed, default, decode_key = HS_ALGORITHMS, "HS256", cfg.JWT_SECRET_KEY
    algorithm = (cfg.JWT_ALGORITHM or default).upper()
    if algorithm not in allowed:
        raise ConfigError(f"JWT_ALGORITHM {algorithm} does not fit the configured key ({', '.join(allowed)})")
    return _settings(cfg, algorithm, [algorithm], cfg.JWT_ISSUER), decode_key


def _identity_provider_settings(cfg):
    """Asymmetric algorithms only (each key then binds its own), and `iss` enforced under OIDC."""
    algorithms = list(ASYMMETRIC_ALGORITHMS)
    if cfg.JWT_ALGORITHM:
        if cfg.JWT_ALGORITHM not in algorithms:
            raise ConfigError(f"JWT_ALGORITHM {cfg.JWT_ALGORITHM} cannot be used with a JWKS ({', '.join(algorithms)})")
        algorithms = [cfg.JWT_ALGORITHM]
    fetch = ProviderFetcher(jwks_url=cfg.JWT_JWKS_URL, issuer=cfg.JWT_OIDC_ISSUER)
    keys = KeySet(fetch, ttl=cfg.JWT_JWKS_CACHE_TTL)
    return _settings(cfg, algorithms[0], algorithms, cfg.JWT_OIDC_ISSUER or cfg.JWT_ISSUER), keys


def _settings(cfg, algorithm, algorithms, issuer):
    return {
        "JWT_ALGORITHM": algorithm,
        "JWT_DECODE_ALGORITHMS": algorithms,
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_IDENTITY_CLAIM": "sub",
        "JWT_DECODE_LEEWAY": cfg.JWT_LEEWAY,
        "JWT_DECODE_AUDIENCE": cfg.JWT_AUDIENCE,
        "JWT_DECODE_ISSUER": issuer,
        "JWT_ENCODE_AUDIENCE": cfg.JWT_AUDIENCE,
        "JWT_ENCODE_ISSUER": issuer,
        "JWT_PUBLIC_KEY": cfg.JWT_PUBLIC_KEY,
        "JWT_SECRET_KEY": cfg.JWT_SECRET_KEY,
    }


def init_jwt(app, jwt, decode_key):
    """Bind the JWT manager: a pre-loaded key (or the JWKS's), `exp` required, every failure our 401."""
    jwt.init_app(app)
    services = services_of(app)
    keys = decode_key if isinstance(decode_key, KeySet) else None
    services.jwks = keys
    services.key_for = keys.key_for if keys else (lambda header: decode_key)
    # The manager's loaders are shared by every app of the process (tests, the CLI): each finds its own key.
    jwt.decode_key_loader(lambda header, payload: current_services().key_for(header))
    jwt.token_verification_loader(lambda header, payload: "exp" in payload)
    register_jwt_error_loaders(jwt)
    services.verified_tokens = VerifiedTokens(app.config["JWT_DECODE_LEEWAY"], keys)


def register_jwt_error_loaders(jwt):
    """flask-jwt-extended's own error answers ({"msg"}, 422) for routes using @jwt_required: our 401."""

    def answer(message):
        return render_error(AuthenticationError(message))

    jwt.unauthorized_loader(lambda reason: answer(_PROBLEMS[0][1]))
    jwt.invalid_token_loader(lambda reason: answer(f"Token is invalid: {reason}"))
    jwt.expired_token_loader(lambda header, payload: answer("Token has expired"))
    jwt.revoked_token_loader(lambda header, payload: answer("Token has been revoked"))
    jwt.needs_fresh_token_loader(lambda header, payload: answer("A fresh token is required"))
    jwt.user_lookup_error_loader(lambda header, payload: answer("Token names an unknown user"))
    jwt.token_verification_failed_loader(lambda header, payload: answer("Token has no 'exp' claim"))


class VerifiedTokens:
    """Tokens that passed full verification, with their sub and validity window.

    Service clients send the same token on every call; verifying it again (base64, JSON, HMAC or RSA, claims)
    was a twentieth of the gateway's own CPU. A hit still checks the token's time window on every request,
    and, with a JWKS, that its key is still published (a key the provider retires takes its tokens along).
    """

    MAX_ENTRIES = 10_000

    def __init__(self, leeway, keys=None):
        self.leeway, self.keys, self._tokens = leeway, keys, {}

    def lookup(self, header):
        """The claims of an already verified, still valid token, else None."""
        entry = self._tokens.get(header)
        if entry is None:
            return None
        claims, not_before, expires, kid = entry
        now = time.time()
        if not_before - self.leeway <= now <= expires + self.leeway and (self.keys is None or self.keys.knows(kid)):
            return claims
        self._tokens.pop(header, None)
        return None

    def remember(self, header, claims, kid=None):
        """Keep verified claims; `exp` and `nbf` are numbers here (authenticate refuses anything else)."""
        if len(self._tokens) >= self.MAX_ENTRIES:
            self._tokens.clear()  # simple bound; a full cache only costs re-verification
        self._tokens[header] = (claims, claims.get("nbf") or 0, claims["exp"], kid)


def require_user(view):
    """Authenticate the request (401 on any token problem) and put the caller's `sub` in `g.user`."""

    @wraps(view)
    def wrapper(**kwargs):
        authenticate()
        # Flask passes only the route's parameters. With none, a plain call runs the view in the same C frame;
        # a `**` call opens a new one, and a gevent worker saves ~0.4 KB more stack per call waiting upstream.
        return view(**kwargs) if kwargs else view()

    return wrapper


def authenticate():
    """Verify the bearer token; whatever flask-jwt-extended or PyJWT raises becomes one 401."""
    header = request.headers.get("Authorization", "")
    verified = current_services().verified_tokens
    claims = verified.lookup(header)
    if claims is None:
        claims = _verify()
        verified.remember(header, claims, get_jwt_header().get("kid"))
    g.user, g.user_claims = claims["sub"], claims


def _verify():
    try:
        verify_jwt_in_request()
    except Exception as exc:  # a key/algorithm mismatch can raise ValueError or TypeError too
        raise AuthenticationError(token_problem(exc)) from None
    claims = get_jwt()
    if not claims["sub"]:
        raise AuthenticationError("Token 'sub' claim must not be empty")
    # PyJWT accepts "1700000000" for exp/nbf/iat; RFC 7519 says NumericDate is a JSON number, and the
    # verified-token cache compares them as numbers.
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if name in claims and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise AuthenticationError(f"Token '{name}' claim must be a number (seconds since the epoch)")
    return claims


_PROBLEMS = (
    (
        (NoAuthorizationError, InvalidHeaderError),
        "Missing or malformed Authorization header: send 'Authorization: Bearer <JWT>'",
    ),
    (pyjwt.ExpiredSignatureError, "Token has expired"),
    (pyjwt.ImmatureSignatureError, "Token is not yet valid"),
    (pyjwt.InvalidAudienceError, "Token audience is not accepted"),
    (pyjwt.InvalidIssuerError, "Token issuer is not accepted"),
    (pyjwt.InvalidAlgorithmError, "Token algorithm is not accepted"),
    (pyjwt.InvalidSignatureError, "Token signature is invalid"),
    (pyjwt.MissingRequiredClaimError, "Token is missing a required claim"),
    (UserClaimsVerificationError, "Token has no 'exp' claim"),
    (JWTDecodeError, "Token has no 'sub' claim"),
    (WrongTokenError, "Token is a refresh token; send an access token"),
    (pyjwt.DecodeError, "Token is malformed"),
)
# Checked before the table: PyJWT's own classes above are their bases.
_OWN_PROBLEMS = (UnknownKeyError, KeyAlgorithmError)


def token_problem(exc):
    """A message that says what is wrong with the token, never the key."""
    if isinstance(exc, _OWN_PROBLEMS):
        return str(exc)
    for cls, message in _PROBLEMS:
        if isinstance(exc, cls):
            return message
    if isinstance(exc, InvalidSubjectError):
        return "Token 'sub' claim must be a string"
    return "Token is invalid"


def current_user():
    """The authenticated caller's `sub`, or None outside an authenticated request."""
    return g.get("user")


def current_claims():
    """The authenticated caller's verified claims ({} outside an authenticated request)."""
    return g.get("user_claims") or {}


def require_admin():
    """403 unless the caller's token grants ADMIN_ROLE (`roles`, `realm_access.roles`, `scope` or `scp`)."""
    role = current_app.config["ADMIN_ROLE"]
    if not is_admin(current_claims(), role):
        raise PermissionDeniedError(f"This needs the '{role}' role in your token")


def end_user_id(sub):
    """OpenRouter's per-end-user id: a stable hash of the JWT sub, so the sub itself never leaves."""
    return hashlib.sha256(f"gateway-user:{sub}".encode()).hexdigest()[:32]
