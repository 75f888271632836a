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


def no_tier():
    return None


class _Usage:
    """What both stores share: days, the report shapes and the budget figure.

    `tier_of` names the recording caller's quota tier (None outside a request), kept per user and day so the
    admin summary can show it without the caller's token.
    """

    def __init__(self, clock=utc_now, tier_of=no_tier):
        self.clock, self.tier_of = clock, tier_of

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

    def summary(self, days, limit, budget_for):
        """Every user of the last `days` UTC days by cost, highest first; `budget_for(tier)` is their budget."""
        today = self.today()
        dates = [(today - timedelta(days=back)).isoformat() for back in range(days)]
        users = self._users(dates)  # {sub: tier of the latest day seen}
        rows = [
            _summary_row(sub, users[sub], by_day, by_day.get(dates[0], {}), budget_for(users[sub]))
            for sub, by_day in self._days_of(users, dates).items()
        ]
        totals = {name: sum(row["totals"][name] for row in rows) for name in FIELDS}
        rows.sort(key=lambda r: (-r["totals"]["cost"], -r["totals"]["requests"], r["user"]))
        return {"object": "usage_summary", "days": days, "totals": _rounded(totals), "users": rows[:limit]}

    def _days_of(self, users, dates):
        return {sub: {day: self._day(sub, day) for day in dates} for sub in users}

    def spent_today(self, sub):
        """Cost in USD the user has run up today (UTC)."""
        return sum(m["cost"] for m in self._day(sub, self.today().isoformat()).values())


def _summary_row(sub, tier, by_day, today, budget):
    """One user's line of the admin summary: totals over the days, and what is left of today's budget."""
    totals = dict.fromkeys(FIELDS, 0)
    for models in by_day.values():
        for counts in models.values():
            for name in FIELDS:
                totals[name] += counts[name]
    spent = sum(m["cost"] for m in today.values())
    left = None if budget is None else round(max(0.0, budget - spent), 8)
    return {"user": sub, "tier": tier, "totals": _rounded(totals), "budget_usd": budget, "budget_left_usd": left}


def _rounded(row):
    return {**row, "cost": round(row["cost"], 8)}


class MemoryUsage(_Usage):
    """Per-process counters (one worker); Redis keeps them when several workers or hosts share the work."""

    def __init__(self, clock=utc_now, tier_of=no_tier):
        super().__init__(clock, tier_of)
        self._lock = threading.Lock()
        self._data = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(FIELDS, 0)))
        self._tiers = defaultdict(dict)  # day -> {sub: tier}

    def record(self, sub, model, usage, pipe=None, tier=None):
        """Count one call of `sub` to `model`."""
        day, tier = self.today().isoformat(), tier if tier is not None else self.tier_of()
        with self._lock:
            row = self._data[(sub, day)][model or "unknown"]
            for name, value in amounts(usage).items():
                row[name] += value
            if tier is not None or sub not in self._tiers[day]:
                self._tiers[day][sub] = tier

    def _users(self, dates):
        users = {}
        with self._lock:
            for day in reversed(dates):  # oldest first, so the latest day's tier wins
                users.update(self._tiers.get(day, {}))
        return users

    def _day(self, sub, day):
        with self._lock:
            return {model: dict(row) for model, row in self._data.get((sub, day), {}).items()}


class RedisUsage(_Usage):
    """Counters in a Redis hash per user and day: `model|field` → amount, expiring after KEEP_DAYS."""

    def __init__(self, client, clock=utc_now, prefix="gw:usage:", tier_of=no_tier):
        super().__init__(clock, tier_of)
        self.client, self.prefix = client, prefix
        self.users_prefix = prefix.rstrip(":") + "-users:"  # a hash per day: sub -> tier ("" for none)

    keep_s = KEEP_DAYS * 86400

    def row(self, model, usage):
        """One call's counters as the settlement script takes them: (model, requests, prompt, completion, cost)."""
        counts = amounts(usage)
        return (model or "unknown", 1, counts["prompt_tokens"], counts["completion_tokens"], repr(counts["cost"]))

    def day_key(self, sub, day=None):
        """The hash of `sub`'s counters for `day` (default today, UTC)."""
        return f"{self.prefix}{sub}:{(day or self.today()).isoformat()}"

    def users_key(self, day=None):
        """The hash of the day's users and their tiers (`""` for none)."""
        return self.users_prefix + (day or self.today()).isoformat()

    def record(self, sub, model, usage, pipe=None, tier=None):
        """Count one call of `sub` to `model` (atomic increments, one round trip; queued on `pipe` if given)."""
        tier = tier if tier is not None else self.tier_of()
        key, users_key = self.day_key(sub), self.users_key()
        own = pipe is None
        pipe = self.client.pipeline(transaction=False) if own else pipe
        if tier is None:
            pipe.hsetnx(users_key, sub, "")  # a call that knows no tier keeps the one already seen
        else:
            pipe.hset(users_key, sub, tier)
        pipe.expire(users_key, KEEP_DAYS * 86400)
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
        return _models(self.client.hgetall(f"{self.prefix}{sub}:{day}"))

    def _users(self, dates):
        pipe = self.client.pipeline(transaction=False)
        for day in reversed(dates):
            pipe.hgetall(self.users_prefix + day)
        users = {}
        for found in pipe.execute():
            users.update({sub.decode(): tier.decode() or None for sub, tier in found.items()})
        return users

    def _days_of(self, users, dates):
        """Every user's days in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        pairs = [(sub, day) for sub in users for day in dates]
        for sub, day in pairs:
            pipe.hgetall(f"{self.prefix}{sub}:{day}")
        result = defaultdict(dict)
        for (sub, day), found in zip(pairs, pipe.execute(), strict=True):
            result[sub][day] = _models(found)
        return result


def _models(fields):
    models = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    for field, value in fields.items():
        model, name = field.decode().rsplit("|", 1)
        models[model][name] = float(value) if name == "cost" else int(value)
    return dict(models)
