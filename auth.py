"""JWT verification as API.md's Authentication section describes it, and the identity quotas key on."""

import hashlib
import time
from functools import wraps

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from flask_jwt_extended.exceptions import (
    InvalidHeaderError,
    JWTDecodeError,
    NoAuthorizationError,
    UserClaimsVerificationError,
    WrongTokenError,
)
from jwt.exceptions import InvalidSubjectError

from config import ConfigError
from errors import AuthenticationError

HS_ALGORITHMS = ("HS256", "HS384", "HS512")
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")


def resolve_jwt_settings(cfg):
    """flask-jwt-extended settings for exactly one algorithm, chosen from the key material."""
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
    settings = {
        "JWT_ALGORITHM": algorithm,
        "JWT_DECODE_ALGORITHMS": [algorithm],
        "JWT_TOKEN_LOCATION": ["headers"],
        "JWT_IDENTITY_CLAIM": "sub",
        "JWT_DECODE_LEEWAY": cfg.JWT_LEEWAY,
        "JWT_DECODE_AUDIENCE": cfg.JWT_AUDIENCE,
        "JWT_DECODE_ISSUER": cfg.JWT_ISSUER,
        "JWT_ENCODE_AUDIENCE": cfg.JWT_AUDIENCE,
        "JWT_ENCODE_ISSUER": cfg.JWT_ISSUER,
        "JWT_PUBLIC_KEY": cfg.JWT_PUBLIC_KEY,
        "JWT_SECRET_KEY": cfg.JWT_SECRET_KEY,
    }
    return settings, decode_key


def init_jwt(app, jwt, decode_key):
    """Bind the JWT manager: a pre-loaded key, `exp` required, and every failure raised as our 401."""
    jwt.init_app(app)
    jwt.decode_key_loader(lambda header, payload: decode_key)
    jwt.token_verification_loader(lambda header, payload: "exp" in payload)
    app.extensions["verified_tokens"] = VerifiedTokens(app.config["JWT_DECODE_LEEWAY"])


class VerifiedTokens:
    """Tokens that passed full verification, with their sub and validity window.

    Service clients send the same token on every call; verifying it again (base64, JSON, HMAC or RSA, claims)
    was a twentieth of the gateway's own CPU. A hit still checks the token's time window on every request.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, leeway):
        self.leeway, self._tokens = leeway, {}

    def lookup(self, header):
        """The `sub` of an already verified, still valid token, else None."""
        entry = self._tokens.get(header)
        if entry is None:
            return None
        sub, not_before, expires = entry
        now = time.time()
        if not_before - self.leeway <= now <= expires + self.leeway:
            return sub
        self._tokens.pop(header, None)
        return None

    def remember(self, header, claims):
        if len(self._tokens) >= self.MAX_ENTRIES:
            self._tokens.clear()  # simple bound; a full cache only costs re-verification
        self._tokens[header] = (claims["sub"], claims.get("nbf") or 0, claims["exp"])


def require_user(view):
    """Authenticate the request (401 on any token problem) and put the caller's `sub` in `g.user`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    return wrapper


def authenticate():
    """Verify the bearer token; whatever flask-jwt-extended or PyJWT raises becomes one 401."""
    header = request.headers.get("Authorization", "")
    verified = current_app.extensions["verified_tokens"]
    g.user = verified.lookup(header)
    if g.user is not None:
        return
    try:
        verify_jwt_in_request()
    except Exception as exc:  # a key/algorithm mismatch can raise ValueError or TypeError too
        raise AuthenticationError(token_problem(exc)) from None
    claims = get_jwt()
    if not claims["sub"]:
        raise AuthenticationError("Token 'sub' claim must not be empty")
    verified.remember(header, claims)
    g.user = claims["sub"]


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


def token_problem(exc):
    """A message that says what is wrong with the token, never the key."""
    for cls, message in _PROBLEMS:
        if isinstance(exc, cls):
            return message
    if isinstance(exc, InvalidSubjectError):
        return "Token 'sub' claim must be a string"
    return "Token is invalid"


def current_user():
    """The authenticated caller's `sub`, or None outside an authenticated request."""
    return g.get("user")


def limit_key():
    """Quotas are per JWT identity, never per IP: behind a proxy every caller shares one address."""
    user = g.get("user")
    if user is None:
        raise AuthenticationError("Missing bearer token")
    return user


def end_user_id(sub):
    """OpenRouter's per-end-user id: a stable hash of the JWT sub, so the sub itself never leaves."""
    return hashlib.sha256(f"gateway-user:{sub}".encode()).hexdigest()[:32]
