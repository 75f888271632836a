"""Usage accounting: requests, tokens and cost per user, UTC day and model, from OpenRouter's `usage`."""

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cost")
KEEP_DAYS = 400


def utc_now():
    return datetime.now(UTC)


def amounts(usage):
    """The counters one call adds, from OpenRouter's usage object (absent: the request alone)."""
    usage = usage if isinstance(usage, dict) else {}

    def number(name):
        value = usage.get(name)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else 0

    return {
        "requests": 1,
        "prompt_tokens": int(number("prompt_tokens")),
        "completion_tokens": int(number("completion_tokens")),
        "cost": float(number("cost")),
    }


class _Usage:
    """What both stores share: days, the report shape and the budget figure."""

    def __init__(self, clock=utc_now):
        self.clock = clock

    def today(self):
        return self.clock().date()

    def report(self, sub, days):
        """The user's own totals for the last `days` UTC days (today included), by day and by model."""
        today = self.today()
        daily, totals = [], dict.fromkeys(FIELDS, 0)
        for back in range(days):
            day = today - timedelta(days=back)
            models = self._day(sub, day.isoformat())
            row = {name: sum(m[name] for m in models.values()) for name in FIELDS}
            for name in FIELDS:
                totals[name] += row[name]
            by_model = {model: _rounded(counts) for model, counts in models.items()}
            daily.append({"date": day.isoformat(), **_rounded(row), "models": by_model})
        return {"object": "usage", "user": sub, "days": days, "totals": _rounded(totals), "daily": daily}

    def spent_today(self, sub):
        """Cost in USD the user has run up today (UTC)."""
        return sum(m["cost"] for m in self._day(sub, self.today().isoformat()).values())


def _rounded(row):
    return {**row, "cost": round(row["cost"], 8)}


class MemoryUsage(_Usage):
    """Per-process counters (one worker); Redis keeps them when several workers or hosts share the work."""

    def __init__(self, clock=utc_now):
        super().__init__(clock)
        self._lock = threading.Lock()
        self._data = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(FIELDS, 0)))

    def record(self, sub, model, usage, pipe=None):
        """Count one call of `sub` to `model`."""
        key = (sub, self.today().isoformat())
        with self._lock:
            row = self._data[key][model or "unknown"]
            for name, value in amounts(usage).items():
                row[name] += value

    def _day(self, sub, day):
        with self._lock:
            return {model: dict(row) for model, row in self._data.get((sub, day), {}).items()}


class RedisUsage(_Usage):
    """Counters in a Redis hash per user and day: `model|field` → amount, expiring after KEEP_DAYS."""

    def __init__(self, client, clock=utc_now, prefix="gw:usage:"):
        super().__init__(clock)
        self.client, self.prefix = client, prefix

    keep_s = KEEP_DAYS * 86400

    def row(self, model, usage):
        """One call's counters as the settlement script takes them: (model, requests, prompt, completion, cost)."""
        counts = amounts(usage)
        return (model or "unknown", 1, counts["prompt_tokens"], counts["completion_tokens"], repr(counts["cost"]))

    def day_key(self, sub, day=None):
        """The hash of `sub`'s counters for `day` (default today, UTC)."""
        return f"{self.prefix}{sub}:{(day or self.today()).isoformat()}"

    def record(self, sub, model, usage, pipe=None):
        """Count one call of `sub` to `model` (atomic increments, one round trip; queued on `pipe` if given)."""
        key = self.day_key(sub)
        own = pipe is None
        pipe = self.client.pipeline(transaction=False) if own else pipe
        for name, value in amounts(usage).items():
            field = f"{model or 'unknown'}|{name}"
            if name == "cost":
                pipe.hincrbyfloat(key, field, value)
            else:
                pipe.hincrby(key, field, value)
        pipe.expire(key, KEEP_DAYS * 86400)
        if own:
            pipe.execute()

    def _day(self, sub, day):
        models = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        for field, value in self.client.hgetall(f"{self.prefix}{sub}:{day}").items():
            model, name = field.decode().rsplit("|", 1)
            models[model][name] = float(value) if name == "cost" else int(value)
        return dict(models)
