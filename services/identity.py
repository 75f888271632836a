"""Who a caller is beyond `sub`: quota tiers and the admin role, read from the token's claims.

Tiers (`QUOTA_TIERS`) override the default limits per tier name; the tier comes from one claim
(`QUOTA_TIER_CLAIM`). Every limit is parsed at start-up, so a typo refuses to start instead of failing later.
"""

import json
from typing import NamedTuple

from limits import parse_many

# Rate-limit buckets and the setting that holds each one's default.
BUCKETS = {
    "chat": "RATELIMIT_CHAT",
    "streaming": "RATELIMIT_STREAMING",
    "vision": "RATELIMIT_VISION",
    "audio": "RATELIMIT_AUDIO",
    "function_calling": "RATELIMIT_FUNCTION_CALLING",
    "embeddings": "RATELIMIT_EMBEDDINGS",
}
TIER_KEYS = (*BUCKETS, "max_concurrent", "daily_budget_usd")


class IdentitySettingError(ValueError):
    """A limit or tier setting is invalid; the message names it."""


class UserLimits(NamedTuple):
    """What applies to one caller: the tier's name (None for the defaults) and its limits."""

    tier: str | None
    rates: dict
    max_concurrent: int
    daily_budget_usd: float | None


def check_rate_limit(name, value):
    """A flask-limiter limit string ("30/minute", "10 per second; 100/hour"), or IdentitySettingError."""
    try:
        if not isinstance(value, str) or not parse_many(value):
            raise ValueError
    except ValueError:
        raise IdentitySettingError(f"{name} is not a rate limit such as '30/minute': {value!r}") from None
    return value


def parse_tiers(raw):
    """QUOTA_TIERS (JSON text or a dict) as {tier: {key: value}}, every value checked."""
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise IdentitySettingError(f"QUOTA_TIERS is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise IdentitySettingError("QUOTA_TIERS must be a JSON object from tier name to its limits")
    return {name: _parse_tier(name, overrides) for name, overrides in raw.items()}


def _parse_tier(name, overrides):
    if not isinstance(overrides, dict):
        raise IdentitySettingError(f"QUOTA_TIERS.{name} must be an object of limits")
    for key, value in overrides.items():
        where = f"QUOTA_TIERS.{name}.{key}"
        if key in BUCKETS:
            check_rate_limit(where, value)
        elif key == "max_concurrent":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise IdentitySettingError(f"{where} must be a whole number of at least 1, got {value!r}")
        elif key == "daily_budget_usd":
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise IdentitySettingError(f"{where} must be a number of dollars (0 or more), got {value!r}")
        else:
            raise IdentitySettingError(f"{where} is not a tier setting (one of: {', '.join(TIER_KEYS)})")
    return dict(overrides)


def limits_for(claims, cfg):
    """The limits of the tier the token's tier claim names; the defaults when it names none configured."""
    tier = claims.get(cfg["QUOTA_TIER_CLAIM"]) if isinstance(claims, dict) else None
    overrides = cfg["QUOTA_TIERS"].get(tier) if isinstance(tier, str) else None
    if overrides is None:
        tier, overrides = None, {}
    rates = {bucket: overrides.get(bucket) or cfg[setting] for bucket, setting in BUCKETS.items()}
    return UserLimits(
        tier=tier,
        rates=rates,
        max_concurrent=overrides.get("max_concurrent", cfg["MAX_CONCURRENT_PER_USER"]),
        daily_budget_usd=overrides.get("daily_budget_usd", cfg["USER_DAILY_BUDGET_USD"]),
    )


def roles_of(claims):
    """Every role or scope a token grants: `roles`, Keycloak's `realm_access.roles`, `scope` / `scp`."""
    found, realm = set(), claims.get("realm_access")
    for value in (claims.get("roles"), realm.get("roles") if isinstance(realm, dict) else None):
        if isinstance(value, list):
            found.update(item for item in value if isinstance(item, str))
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):  # Okta and Entra ID send `scp` as a list
            found.update(item for item in value if isinstance(item, str))
    return found


def is_admin(claims, role):
    """True when the token grants the admin role in any of the places `roles_of` reads."""
    return isinstance(claims, dict) and role in roles_of(claims)
