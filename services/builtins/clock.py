"""The `get_current_time` built-in: the current time in an IANA time zone."""

import functools
import zoneinfo
from datetime import UTC, datetime

from .schema import ToolError, function_tool

# Spelt out rather than strftime("%A"), which follows the process locale.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

TOOL = function_tool(
    "get_current_time",
    "Get the current date and time in a time zone: ISO 8601 datetime, UTC offset, weekday and Unix "
    "timestamp. Call this whenever the answer depends on today's date or the current time.",
    {
        "timezone": {
            "type": "string",
            "maxLength": 64,
            "description": 'IANA time zone name such as "Europe/Paris", "America/New_York" or '
            '"Asia/Tokyo" (not an abbreviation like EST). Defaults to "UTC".',
        }
    },
)


@functools.cache
def _zone_names():
    """Lower-cased IANA names mapped to their canonical spelling; read from disk once."""
    names = zoneinfo.available_timezones() | {"UTC"}
    return {name.lower(): name for name in names}


def resolve_zone(name, field="timezone"):
    """The ZoneInfo for an IANA name, matched case-insensitively; only known names reach the filesystem."""
    canonical = _zone_names().get(name.strip().lower())
    if canonical is None:
        raise ToolError(
            f"unknown time zone {name!r} in '{field}'; use an IANA name such as \"UTC\", "
            '"Europe/London" or "America/Los_Angeles"'
        )
    return zoneinfo.ZoneInfo(canonical)


def current_instant(now=None):
    """The injected clock's time, or the real one; a naive injected time is taken as UTC."""
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def get_current_time(timezone="UTC", now=None):
    """The current time in `timezone`."""
    zone = resolve_zone(timezone)
    local = current_instant(now).astimezone(zone).replace(microsecond=0)
    offset = local.isoformat()[19:] or "+00:00"
    return {
        "datetime": local.isoformat(),
        "timezone": zone.key,
        "abbreviation": local.tzname(),
        "utc_offset": offset,
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M:%S"),
        "weekday": WEEKDAYS[local.weekday()],
        "unix_timestamp": int(local.timestamp()),
    }
