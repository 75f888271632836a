"""The model catalogue: OpenRouter's list, cached, enriched with tiers and capabilities, and recommendations.

Only exact ids are premium: `openai/gpt-4o:nitro` or `~openai/gpt-latest` is another model, tier null,
because a variant can differ in price, limits and providers. Enriched models are shared by every caller:
treat them as read-only.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from services.catalogue_data import (
    BUILTIN_MODELS,
    LONG_CONTEXT,
    PREMIUM_TIERS,
    STRENGTHS,
    TIERS,
    USE_CASES,
    UseCase,
)

__all__ = [
    "BUILTIN_MODELS",
    "CAPABILITIES",
    "LONG_CONTEXT",
    "PREMIUM_TIERS",
    "STRENGTHS",
    "TIERS",
    "USE_CASES",
    "ModelCatalogue",
    "UseCase",
    "enrich",
]

CAPABILITIES = ("vision", "audio", "functions")
MAX_RECOMMENDATIONS = 8

logger = logging.getLogger(__name__)
_BUILTIN_BY_ID = {model["id"]: model for model in BUILTIN_MODELS}
_PREMIUM_RANK = {model_id: rank for rank, model_id in enumerate(PREMIUM_TIERS)}
_TIER_RANK = {**{tier: rank for rank, tier in enumerate(TIERS)}, None: len(TIERS)}


def _string_list(value):
    """The value when it is a list (OpenRouter's modality and parameter lists), else None."""
    return value if isinstance(value, list) else None


def _inputs(model):
    """architecture.input_modalities, or None when absent or malformed."""
    architecture = model.get("architecture")
    return _string_list(architecture.get("input_modalities")) if isinstance(architecture, dict) else None


def _outputs(model):
    """architecture.output_modalities, or None when absent or malformed."""
    architecture = model.get("architecture")
    return _string_list(architecture.get("output_modalities")) if isinstance(architecture, dict) else None


def _context(model):
    """context_length when it is a positive int, else None."""
    value = model.get("context_length")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _params(model):
    """supported_parameters, or None when absent or malformed."""
    return _string_list(model.get("supported_parameters"))


def _field(read, model, builtin):
    """What `read` finds in the live model, else in the built-in entry with the same id."""
    value = read(model)
    if value is None and builtin is not None:
        value = read(builtin)
    return value


def _capabilities(model, builtin):
    """The gateway's capability flags, from OpenRouter's own fields where present."""
    inputs = _field(_inputs, model, builtin) or []
    outputs = _field(_outputs, model, builtin)
    return {
        "vision": "image" in inputs,
        "audio": "audio" in inputs,
        "functions": "tools" in (_field(_params, model, builtin) or []),
        # Every model that answers text can stream it; only a known non-text output rules that out.
        "streaming": outputs is None or "text" in outputs,
        "max_context": _field(_context, model, builtin) or 0,
    }


def enrich(model: dict) -> dict:
    """A new dict: the model plus `tier`, `premium` and `capabilities`."""
    model_id = model.get("id") if isinstance(model.get("id"), str) else None
    return {
        **model,
        "tier": PREMIUM_TIERS.get(model_id),
        "premium": model_id in PREMIUM_TIERS,
        "capabilities": _capabilities(model, _BUILTIN_BY_ID.get(model_id)),
    }


def _premium_first(models):
    """Premium models by tier then the guide's order, then the rest in their given order."""
    premium = [m for m in models if m["premium"]]
    premium.sort(key=lambda m: (_TIER_RANK[m["tier"]], _PREMIUM_RANK[m["id"]]))
    return premium + [m for m in models if not m["premium"]]


def _usable(entries):
    """Enriched, ordered models from OpenRouter's `data` list, skipping entries without a string id."""
    if isinstance(entries, dict):
        entries = entries.get("data")
    if not isinstance(entries, list):
        raise ValueError("model list payload has no `data` list")
    seen, models = set(), []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"] not in seen:
            seen.add(entry["id"])
            models.append(enrich(entry))
    if not models:
        raise ValueError("model list payload has no usable model")
    return _premium_first(models)


def _check_capability(capability):
    """Raise ValueError for a capability name the catalogue does not know."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; expected one of {', '.join(CAPABILITIES)}")


def _meets(model, requires):
    """True when the model has what a use case requires (a capability name or a predicate)."""
    if requires is None:
        return True
    if callable(requires):
        return requires(model)
    return model["capabilities"][requires]


class _Snapshot(NamedTuple):
    """The cache's state, replaced whole so readers never see half an update."""

    models: list | None = None
    by_id: dict | None = None
    fetched_at: float | None = None
    failed_at: float | None = None


class ModelCatalogue:
    """OpenRouter's model list, cached for `ttl` seconds and refreshed by one caller at a time."""

    def __init__(
        self,
        fetch: Callable[[], list],
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        retry_after_failure: float = 30.0,
        first_fetch_wait: float = 15.0,
    ):
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._retry_after_failure = retry_after_failure
        self._first_fetch_wait = first_fetch_wait
        self._refreshing = threading.Lock()
        self._first_attempt_done = threading.Event()
        self._state = _Snapshot()
        self._builtin = _premium_first([enrich(model) for model in BUILTIN_MODELS])
        self._builtin_by_id = {model["id"]: model for model in self._builtin}

    @property
    def source(self) -> str:
        """Where models() answers from: "live", "stale" (past TTL or refresh failing) or "builtin"."""
        state = self._state
        if state.models is None:
            return "builtin"
        return "live" if self._clock() - state.fetched_at < self._ttl else "stale"

    def models(self) -> list[dict]:
        """Enriched models, premium first; refreshed in this thread when stale and nobody else is at it."""
        return list(self._current()[0])

    def get(self, model_id: str) -> dict | None:
        """The model with exactly this id, or None."""
        return self._current()[1].get(model_id)

    @staticmethod
    def filter(models, tier=None, capabilities=(), q=None, premium=None) -> list[dict]:
        """The models matching every given criterion; None or empty means no constraint."""
        for capability in capabilities:
            _check_capability(capability)
        needle = q.lower() if q else None
        return [
            m
            for m in models
            if (tier is None or m["tier"] == tier)
            and all(m["capabilities"][c] for c in capabilities)
            and (needle is None or needle in m["id"].lower() or needle in str(m.get("name") or "").lower())
            and (premium is None or m["premium"] is premium)
        ]

    def recommend(self, use_case: str) -> list[dict]:
        """Models for a use case, each with a one-line `reason`; KeyError for an unknown use case."""
        spec = USE_CASES[use_case]
        models, by_id = self._current()
        fits = [(by_id[i], why) for i, why in spec.picks if i in by_id and _meets(by_id[i], spec.requires)]
        if spec.more_reason:
            more = [m for m in models if not m["premium"] and _meets(m, spec.requires)]
            fits += [(m, spec.more_reason) for m in more[: max(0, MAX_RECOMMENDATIONS - len(fits))]]
        return [{**model, "reason": reason} for model, reason in fits]

    def capable_models(self, capability: str) -> list[str]:
        """Ids of the models having a capability (vision, audio or functions), premium first."""
        _check_capability(capability)
        return [m["id"] for m in self._current()[0] if m["capabilities"][capability]]

    def supports(self, model_id: str, capability: str) -> bool | None:
        """Whether the model has the capability; None when neither the list nor the built-ins know it."""
        _check_capability(capability)
        model = self.get(model_id) or self._builtin_by_id.get(model_id)
        return None if model is None else model["capabilities"][capability]

    def _current(self):
        """(models, by id) to answer from, refreshing first when due and waiting only for a first fetch."""
        state = self._state
        if self._due(state):
            self._refresh_unless_busy()
            state = self._state
        if state.models is None and not self._first_attempt_done.is_set():
            # Another caller is making the first fetch: its answer beats the built-ins, so wait (bounded).
            self._first_attempt_done.wait(self._first_fetch_wait)
            state = self._state
        if state.models is None:
            return self._builtin, self._builtin_by_id
        return state.models, state.by_id

    def _due(self, state):
        """True when the copy is missing or past its TTL, unless a fetch failed too recently to retry."""
        now = self._clock()
        if state.failed_at is not None and now - state.failed_at < self._retry_after_failure:
            return False
        return state.models is None or now - state.fetched_at >= self._ttl

    def _refresh_unless_busy(self):
        """Fetch in this thread unless another caller already is (they keep serving the current copy)."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            if self._due(self._state):  # someone may have refreshed between our check and the lock
                self._refresh()
        finally:
            self._refreshing.release()
            self._first_attempt_done.set()

    def _refresh(self):
        """Fetch and swap in a new copy; on failure keep the old one and note when, to pace retries."""
        try:
            models = _usable(self._fetch())
        except Exception as exc:  # any upstream failure: serve what we have
            logger.warning("model list refresh failed, serving the %s copy: %r", self.source, exc)
            self._state = self._state._replace(failed_at=self._clock())
            return
        by_id = {model["id"]: model for model in models}
        self._state = _Snapshot(models, by_id, fetched_at=self._clock())
