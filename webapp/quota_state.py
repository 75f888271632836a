"""Each app's quota state, and admitting a call: rate limit, daily budget and concurrency slot together.

flask-limiter's Limiter is one module-level object (the route decorators are declared on it at import), but its
storage, its on/off switch and its fail-open setting must belong to each app: one process builds several (tests,
the CLI), and building a second must not re-point or switch off the first. So flask-limiter is given
`gateway-app://`, a storage that forwards every call to the current app's own one, quotas are switched off per
app by a request filter, and Redis trouble is handled here, per app, rather than by flask-limiter's
process-wide `swallow_errors`.

With Redis, the route's rate-limit hit also carries the budget check and the concurrency slot, in the one
admission script (services/redis_admission.py): one round trip before the upstream call.
"""

import logging

from flask import after_this_request, current_app, g, has_request_context, request
from limits.storage import MovingWindowSupport, Storage

from core.errors import AuthenticationError, RedisUnavailableError
from services.concurrency import CallTicket, RedisConcurrency
from services.container import QuotaState  # noqa: F401  (re-exported: it was defined here)
from services.identity import limits_for
from webapp.composition import current_services

log = logging.getLogger("gateway.quotas")
APP_STORAGE = "gateway-app://"


def limit_key():
    """Quotas are per JWT identity, never per IP: behind a proxy every caller shares one address."""
    user = g.get("user")
    if user is None:
        raise AuthenticationError("Missing bearer token")
    return user


def user_limits():
    """The caller's limits: their tier's (QUOTA_TIERS, by the QUOTA_TIER_CLAIM claim), else the defaults."""
    limits = g.get("user_limits")
    if limits is None:
        limits = g.user_limits = limits_for(g.get("user_claims"), current_app.config)
    return limits


def current_tier():
    """The tier of the authenticated caller, for usage records (None outside a request or for the defaults)."""
    if not has_request_context() or g.get("user") is None:
        return None
    return user_limits().tier


def user_max_concurrent():
    """The caller's cap on calls in flight (their tier's, else MAX_CONCURRENT_PER_USER)."""
    return user_limits().max_concurrent


def user_daily_budget():
    """The caller's daily budget in USD, or None (their tier's, else USER_DAILY_BUDGET_USD)."""
    return user_limits().daily_budget_usd


def admit_call(window=None):
    """Check the budget and take a slot (and the rate-limit hit `window`, with Redis); the Outcome or None.

    The call's ticket goes in `g.call_ticket`; a refusal in `g.call_refused` (the decorator raises it). The
    ticket is settled when the response closes at the latest, whatever happens in between.
    """
    services = current_services()
    slots, usage = services.concurrency, services.usage
    user, limit = g.user, user_max_concurrent()
    budget = user_daily_budget() if _view_marked("checks_daily_budget") else None
    try:
        if isinstance(slots, RedisConcurrency):
            slot = slots.slot(user, limit)
            outcome = slots.admission.admit(window=window, slot=slot, budget_key=usage.day_key(user), budget=budget)
            verdict, token = outcome.verdict, slot.token
        else:
            outcome, verdict, token = None, _admit_locally(slots, usage, user, limit, budget), True
    except RedisUnavailableError:
        if not current_app.config["RATELIMIT_FAIL_OPEN"]:
            raise
        log.warning("quotas, budget and concurrency cap skipped: Redis unavailable (RATELIMIT_FAIL_OPEN)")
        g.quota_skipped = True
        outcome, verdict = None, "ok"
    if verdict != "ok":
        if verdict != "window":  # flask-limiter answers a full window itself, with its 429
            g.call_refused = verdict
        return outcome
    lease = getattr(slots, "lease", None)
    token = token if not g.get("quota_skipped") else None
    ticket = CallTicket(slots, usage, user, token, lease and lease / 3, tier=current_tier())
    g.call_ticket = ticket

    @after_this_request
    def settle_on_close(response):
        response.call_on_close(ticket.settle)
        return response

    return outcome


def _admit_locally(slots, usage, user, limit, budget):
    if budget is not None and usage.spent_today(user) >= budget:
        return "budget"
    return "ok" if slots.acquire(user, limit) is not None else "busy"


def _view_marked(mark):
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, mark, False))


def holds_slot():
    """True when the view of this request takes a concurrency slot (its decorator marks it)."""
    return _view_marked("holds_concurrency_slot")


def exempt():
    """flask-limiter's request filter: quotas off for this app, or its before_request pass (routes check)."""
    return not current_app.config["RATELIMIT_ENABLED"] or not g.get("limits_from_views")


def limits_from_views():
    """A before_request hook that runs after flask-limiter's: from here on its checks count."""
    g.limits_from_views = True


def _failure_of(storage):
    """The exception class(es) a storage raises when its backend is unreachable (limits' convention)."""
    failures = getattr(storage, "base_exceptions", ())
    return failures if isinstance(failures, type) else tuple(failures)


class AppStorage(Storage, MovingWindowSupport):
    """`gateway-app://`: flask-limiter's storage calls, forwarded to the current app's own storage."""

    STORAGE_SCHEME = ["gateway-app"]

    def __init__(self, uri=None, wrap_exceptions=False, **_):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @staticmethod
    def _state():
        return current_services().quota_state

    @property
    def base_exceptions(self):
        return Exception

    def acquire_entry(self, key, limit, expiry, amount=1):
        """The rate-limit hit; with Redis, also the budget and slot of a view that holds one."""
        state = self._state()
        try:
            if state.combined and holds_slot() and "call_ticket" not in g and "call_refused" not in g:
                from services.quota_storage import RedisQuotaStorage
                from services.redis_admission import Window

                outcome = admit_call(Window(RedisQuotaStorage.PREFIX + key, limit, expiry, amount))
                if outcome is None:  # skipped: Redis down, fail-open
                    return True
                taken, oldest, count = outcome.verdict != "window", outcome.oldest, outcome.count
            elif hasattr(state.storage, "acquire"):
                taken, oldest, count = state.storage.acquire(key, limit, expiry, amount)
            else:
                return state.storage.acquire_entry(key, limit, expiry, amount)
        except Exception as exc:
            if not state.fail_open or not isinstance(exc, (RedisUnavailableError, _failure_of(state.storage))):
                raise
            log.warning("rate limit skipped: its storage is unavailable (RATELIMIT_FAIL_OPEN)")
            g.quota_skipped = True
            return True
        g.setdefault("quota_windows", {})[key] = (oldest, count)
        return taken

    def get_moving_window(self, key, limit, expiry):
        """The window as the hit left it (no second call), else the storage's."""
        seen = g.get("quota_windows", {}).get(key)
        return seen if seen is not None else self._state().storage.get_moving_window(key, limit, expiry)

    def incr(self, key, expiry, amount=1):
        return self._state().storage.incr(key, expiry, amount)

    def get(self, key):
        return self._state().storage.get(key)

    def get_expiry(self, key):
        return self._state().storage.get_expiry(key)

    def check(self):
        return self._state().storage.check()

    def reset(self):
        return self._state().storage.reset()

    def clear(self, key):
        return self._state().storage.clear(key)
