"""The `date_calculate` built-in: calendar-aware date arithmetic, differences and weekdays."""

import calendar
from datetime import UTC, datetime, timedelta
from datetime import date as calendar_date

from .clock import WEEKDAYS, current_instant
from .schema import ToolError, function_tool

# Each bound spans the whole 1..9999 calendar, so no valid answer is refused and nothing grows unbounded.
_AMOUNT_LIMITS = {
    "years": 9_999,
    "months": 119_988,
    "weeks": 522_857,
    "days": 3_660_000,
    "hours": 87_840_000,
    "minutes": 5_270_400_000,
}
_DATE_HELP = (
    'ISO 8601 date ("2024-03-15") or datetime ("2024-03-15T14:30:00", optionally with an offset such '
    'as "+02:00" or "Z"), or "today" / "now" (UTC)'
)


def _amount(name, limit):
    """The schema of one add/subtract amount."""
    return {"type": "integer", "minimum": -limit, "maximum": limit, "description": f"{name} to shift by"}


TOOL = function_tool(
    "date_calculate",
    "Calendar arithmetic on dates. 'add' / 'subtract' shift 'date' by years, months, weeks, days, hours "
    "and minutes (months and years first, clamping to the month's last day: 2024-01-31 + 1 month = "
    "2024-02-29). 'difference' gives the time from 'date' to 'other_date' (positive when other_date is "
    "later) in whole days, weeks, calendar years/months/days and total hours/minutes/seconds. 'weekday' "
    "gives the day of the week, ISO week number and day of the year of 'date'.",
    {
        "operation": {"type": "string", "enum": ["add", "subtract", "difference", "weekday"]},
        "date": {"type": "string", "maxLength": 64, "description": "The starting date: " + _DATE_HELP + "."},
        "other_date": {"type": "string", "maxLength": 64, "description": "For 'difference': the end date."},
        **{name: _amount(name, limit) for name, limit in _AMOUNT_LIMITS.items()},
    },
    required=["operation", "date"],
)


def date_calculate(operation, date, other_date=None, now=None, **amounts):
    """Run one date operation on `date`."""
    start, has_time = _parse(date, "date", now)
    if operation == "weekday":
        return _weekday(start, has_time)
    if operation == "difference":
        if other_date is None:
            raise ToolError("operation 'difference' needs 'other_date'")
        end, end_has_time = _parse(other_date, "other_date", now)
        return _difference(start, end, has_time or end_has_time)
    if not amounts:
        raise ToolError(f"operation '{operation}' needs at least one of {', '.join(_AMOUNT_LIMITS)}")
    sign = -1 if operation == "subtract" else 1
    result = _shift(start, {name: sign * amount for name, amount in amounts.items()})
    has_time = has_time or bool(amounts.get("hours") or amounts.get("minutes"))
    return {
        "operation": operation,
        "date": _format(start, has_time),
        "result": _format(result, has_time),
        "weekday": WEEKDAYS[result.weekday()],
    }


def _parse(text, field, now):
    """A datetime and whether the text carried a time of day."""
    key = text.strip().lower()
    if key in ("today", "now"):
        instant = current_instant(now).astimezone(UTC).replace(microsecond=0)
        if key == "now":
            return instant, True
        return instant.replace(hour=0, minute=0, second=0, tzinfo=None), False
    try:
        return datetime.combine(calendar_date.fromisoformat(text.strip()), datetime.min.time()), False
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()), True
    except ValueError:
        raise ToolError(f"'{field}' must be an {_DATE_HELP}; got {text!r}") from None


def _format(moment, has_time):
    """ISO 8601 text: a plain date unless a time of day is involved."""
    return moment.isoformat() if has_time else moment.date().isoformat()


def _add_months(moment, months):
    """Move by whole months, clamping the day to the target month's length."""
    year, month0 = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise ToolError("result is outside the supported years 1 to 9999")
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def _shift(start, amounts):
    """Apply years and months on the calendar first, then the fixed-length units."""
    moved = _add_months(start, amounts.get("years", 0) * 12 + amounts.get("months", 0))
    fixed = {name: amounts.get(name, 0) for name in ("weeks", "days", "hours", "minutes")}
    try:
        return moved + timedelta(**fixed)
    except OverflowError:
        raise ToolError("result is outside the supported years 1 to 9999") from None


def _weekday(moment, has_time):
    """Day-of-week facts about one date."""
    iso = moment.isocalendar()
    return {
        "date": _format(moment, has_time),
        "weekday": WEEKDAYS[moment.weekday()],
        "iso_weekday": iso.weekday,
        "is_weekend": iso.weekday >= 6,
        "iso_week": iso.week,
        "iso_year": iso.year,
        "day_of_year": moment.timetuple().tm_yday,
    }


def _difference(start, end, has_time):
    """The span from `start` to `end` in several units; a naive side is taken as UTC if the other is not."""
    output = {}
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = (moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in (start, end))
        output["note"] = "one date had no UTC offset; it was taken as UTC"
    delta = end - start
    sign = -1 if delta < timedelta(0) else 1
    weeks, days = divmod(abs(delta).days, 7)
    seconds = delta.days * 86_400 + delta.seconds + delta.microseconds / 1e6
    output.update(
        {
            "from": _format(start, has_time),
            "to": _format(end, has_time),
            "days": sign * abs(delta).days,
            "weeks": sign * weeks,
            "remaining_days": sign * days,
            "calendar": _calendar_parts(start, end),
            "total_hours": _exact(seconds / 3600),
            "total_minutes": _exact(seconds / 60),
            "total_seconds": _exact(seconds),
        }
    )
    return output


def _calendar_parts(start, end):
    """Whole years, months and days from start to end, negative when end is earlier."""
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    months = (end.year - start.year) * 12 + end.month - start.month
    if months and _add_months(start, months) > end:
        months -= 1
    years, months_left = divmod(months, 12)
    days = (end - _add_months(start, months)).days
    return {"years": sign * years, "months": sign * months_left, "days": sign * days}


def _exact(number):
    """An int when the value is whole, else rounded to 6 decimals."""
    return int(number) if float(number).is_integer() else round(number, 6)
