"""Signing keys from an identity provider: a JWKS (or OIDC discovery), cached, re-fetched sparingly.

PyJWKClient re-fetches on every unknown `kid` and follows redirects (urllib); a flood of made-up kids would
then cost the provider one request each. Here a miss triggers at most one fetch per `cooldown` seconds per
process, the last good keys stay in use when the provider fails, and fetches never follow redirects.
PyJWT's PyJWK still parses and binds every key.
"""

import json
import threading
import time

import urllib3
from jwt import PyJWK
from jwt.exceptions import InvalidAlgorithmError, InvalidTokenError, PyJWKError

FETCH_TIMEOUT_S = 3.0
MAX_DOCUMENT_BYTES = 1024 * 1024
REFETCH_COOLDOWN_S = 30.0
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
ASYMMETRIC_ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS.values(), "EdDSA")


class KeyFetchError(Exception):
    """The identity provider's keys could not be fetched or read; the message says why."""


class UnknownKeyError(InvalidTokenError):
    """The token names a `kid` the provider does not publish (or none at all)."""


class KeyAlgorithmError(InvalidAlgorithmError):
    """The token's `alg` is not one its key may verify (key confusion, or a key with its own `alg`)."""


def algorithms_for(jwk):
    """The JWS algorithms a JWK may verify: its own `alg` if it names one, else its key type's family."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        family = RSA_ALGORITHMS
    elif kty == "EC" and crv in EC_ALGORITHMS:
        family = (EC_ALGORITHMS[crv],)
    elif kty == "OKP" and crv in ("Ed25519", "Ed448"):
        family = ("EdDSA",)
    else:
        family = ()  # symmetric ("oct") or unknown keys never verify anything here
    alg = jwk.get("alg")
    return family if alg is None else tuple(a for a in family if a == alg)


def parse_jwks(document):
    """{kid: JWK} of the usable signing keys of a JWKS document; KeyFetchError when there are none."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeyFetchError("the JWKS has no 'keys' list")
    usable = {}
    for jwk in keys:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        algorithms = algorithms_for(jwk)
        if not algorithms:
            continue
        try:
            PyJWK(jwk, algorithm=algorithms[0])  # parses the key material once, here
        except (PyJWKError, ValueError, TypeError, KeyError):
            continue
        usable[jwk["kid"]] = jwk
    if not usable:
        raise KeyFetchError("the JWKS holds no usable signing key (RSA, EC or OKP with a kid)")
    return usable


class ProviderFetcher:
    """Reads the JWKS at `jwks_url`, or finds it through `<issuer>/.well-known/openid-configuration`."""

    def __init__(self, jwks_url=None, issuer=None, timeout=FETCH_TIMEOUT_S):
        self.jwks_url, self.issuer = jwks_url, issuer
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False)

    def __call__(self):
        """{kid: JWK} from the provider, or KeyFetchError."""
        return parse_jwks(self._get_json(self.jwks_url or self._discover()))

    def _discover(self):
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url)
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise KeyFetchError(f"the discovery document at {url} does not name issuer {self.issuer}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise KeyFetchError(f"the discovery document at {url} has no jwks_uri")
        self.jwks_url = jwks_uri  # the issuer's key URL does not move; discovery is done once
        return jwks_uri

    def _get_json(self, url):
        try:
            response = self._http.request("GET", url, redirect=False, preload_content=False)
            try:
                body = response.read(MAX_DOCUMENT_BYTES + 1)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise KeyFetchError(f"{url} is unreachable ({type(exc).__name__})") from None
        if 300 <= response.status < 400:
            raise KeyFetchError(f"{url} answered a redirect ({response.status}); redirects are not followed")
        if response.status != 200:
            raise KeyFetchError(f"{url} answered {response.status}")
        if len(body) > MAX_DOCUMENT_BYTES:
            raise KeyFetchError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise KeyFetchError(f"{url} did not answer JSON") from None


class KeySet:
    """The provider's keys by `kid`, refreshed after `ttl` seconds or on an unknown kid (once per cooldown)."""

    def __init__(self, fetch, ttl, cooldown=REFETCH_COOLDOWN_S, clock=time.monotonic):
        self.fetch, self.ttl, self.cooldown, self.clock = fetch, ttl, cooldown, clock
        self._lock = threading.Lock()
        self._keys, self._bound = {}, {}
        self._fetched_at = self._tried_at = None
        self._error = None
        self.fetches = 0

    def key_for(self, header):
        """The PyJWK that verifies a token with this header, bound to the token's (allowed) algorithm."""
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise UnknownKeyError("Token has no 'kid' header; tokens from the identity provider name their key")
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise InvalidAlgorithmError("The specified alg value is not allowed")
        jwk = self._keys.get(kid)
        if jwk is None:
            self._refresh_for(kid)
            jwk = self._keys.get(kid)
        elif self._stale():
            self._refresh_in_background()
        if jwk is None:
            raise UnknownKeyError(self._unknown_message())
        if alg not in algorithms_for(jwk):
            raise KeyAlgorithmError(f"Token algorithm {alg} does not fit its key")
        return self._bind(kid, jwk, alg)

    def knows(self, kid):
        """True while the provider publishes `kid` (as of the last good fetch; a stale set refreshes behind)."""
        if self._stale():  # callers served from the verified-token cache keep the set fresh too
            self._refresh_in_background()
        return kid in self._keys

    def _bind(self, kid, jwk, alg):
        bound = self._bound.get((kid, alg))
        if bound is None or bound[0] is not jwk:
            bound = self._bound[(kid, alg)] = (jwk, PyJWK(jwk, algorithm=alg))
        return bound[1]

    def _unknown_message(self):
        if not self._keys and self._error:
            return f"Token signing key is unknown: the identity provider's keys are unavailable ({self._error})"
        return "Token signing key is unknown"

    def _stale(self):
        now = self.clock()
        expired = self._fetched_at is None or now - self._fetched_at >= self.ttl
        return expired and (self._tried_at is None or now - self._tried_at >= self.cooldown)

    def _refresh_for(self, kid):
        """One fetch for an unknown kid, unless another caller fetched or tried within the cooldown."""
        with self._lock:
            if kid in self._keys:
                return
            if self._tried_at is not None and self.clock() - self._tried_at < self.cooldown:
                return
            self._refresh()

    def _refresh_in_background(self):
        if self._lock.acquire(blocking=False):
            threading.Thread(target=self._refresh_and_release, name="jwks-refresh", daemon=True).start()

    def _refresh_and_release(self):
        try:
            self._refresh()
        finally:
            self._lock.release()

    def _refresh(self):
        self._tried_at = self.clock()
        self.fetches += 1
        try:
            keys = self.fetch()
        except KeyFetchError as exc:
            self._error = str(exc)  # the last good keys stay in use
            return
        except Exception as exc:  # a refresh must never take a request or the process down
            self._error = f"unexpected {type(exc).__name__}"
            return
        self._keys, self._error, self._fetched_at = keys, None, self._tried_at

    def status(self):
        """The readiness check: degraded while the last fetch failed; starts a refresh when keys are stale."""
        if self._stale():
            self._refresh_in_background()
        age = None if self._fetched_at is None else round(self.clock() - self._fetched_at, 1)
        if self._error:
            state = {"status": "degraded", "detail": f"last key fetch failed: {self._error}"}
        elif self._fetched_at is None:
            state = {"status": "unknown", "detail": "keys not fetched yet"}
        else:
            state = {"status": "ok"}
        return {**state, "keys": len(self._keys), "fetched_s_ago": age}

    def wait_idle(self, timeout=5.0):
        """Block until no refresh is running (for tests)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False
