"""The model catalogue: built-in data, enrichment, filters, recommendations and the refresh cache."""

import copy
import threading

import pytest

from services.catalogue import (
    BUILTIN_MODELS,
    PREMIUM_TIERS,
    STRENGTHS,
    USE_CASES,
    ModelCatalogue,
    enrich,
)
from tests.conftest import MODEL_FIELDS

PREMIUM_ORDER = list(PREMIUM_TIERS)
FLAGSHIP = ["anthropic/claude-opus-4.5", "openai/gpt-5.2-pro", "openai/o1-pro"]
PREMIUM_AUDIO = [
    "google/gemini-2.5-pro",
    "google/gemini-2.5-flash",
    "google/gemini-3-flash-preview",
    "openai/gpt-4o-audio-preview",
]


def live_model(model_id, inputs, params=("max_tokens",), context=131_072, name=None):
    """A non-premium entry shaped like OpenRouter's."""
    return {
        "id": model_id,
        "name": name or model_id,
        "context_length": context,
        "architecture": {
            "modality": "+".join(inputs) + "->text",
            "input_modalities": list(inputs),
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": "0", "completion": "0"},
        "supported_parameters": list(params),
    }


LLAMA = live_model(
    "meta-llama/llama-3.3-70b-instruct:free",
    ["text"],
    ["tools", "max_tokens"],
    name="Meta: Llama 3.3 70B Instruct (free)",
)
AUTO = live_model("openrouter/auto", ["text", "image"], ["tools"], context=2_000_000, name="Auto Router")
VOXTRAL = live_model(
    "mistralai/voxtral-small-24b-2507",
    ["text", "audio"],
    ["tools"],
    context=32_000,
    name="Mistral: Voxtral Small 24B 2507",
)
SONNET_LATEST = live_model(
    "~anthropic/claude-sonnet-latest",
    ["text", "image", "file"],
    ["tools"],
    context=1_000_000,
    name="Anthropic: Claude Sonnet Latest",
)
GPT4O_NITRO = live_model("openai/gpt-4o:nitro", ["text", "image"], ["tools"], context=128_000)
EXTRAS_IN_ORDER = [LLAMA, AUTO, VOXTRAL, SONNET_LATEST, GPT4O_NITRO]


def live_list():
    """OpenRouter's list as it might arrive: premium models shuffled among the others."""
    builtins = copy.deepcopy(BUILTIN_MODELS)
    return [LLAMA, *reversed(builtins[5:]), AUTO, VOXTRAL, *builtins[:5], SONNET_LATEST, GPT4O_NITRO]


class FakeFetch:
    """Counts calls; can fail, or block on a gate the test opens."""

    def __init__(self, payload=None):
        self.payload = payload if payload is not None else live_list()
        self.calls = 0
        self.error = None
        self.gate = None
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self):
        with self._lock:
            self.calls += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(5), "test never opened the gate"
        if self.error is not None:
            raise self.error
        return copy.deepcopy(self.payload)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fetch():
    return FakeFetch()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def catalogue(fetch, clock):
    return ModelCatalogue(fetch, ttl=300.0, clock=clock, retry_after_failure=30.0)


def ids(models):
    return [m["id"] for m in models]


def builtin_by_id(model_id):
    return copy.deepcopy(next(m for m in BUILTIN_MODELS if m["id"] == model_id))


# --- built-in data ---------------------------------------------------------------------------------------


def test_builtins_are_the_premium_models_with_exactly_openrouters_fields():
    assert ids(BUILTIN_MODELS) == PREMIUM_ORDER
    assert set(STRENGTHS) == set(PREMIUM_TIERS)
    for model in BUILTIN_MODELS:
        assert set(model) == MODEL_FIELDS
        assert set(model["architecture"]) == {
            "modality",
            "input_modalities",
            "output_modalities",
            "tokenizer",
            "instruct_type",
        }
        assert set(model["top_provider"]) == {"context_length", "max_completion_tokens", "is_moderated"}
        assert all(isinstance(price, str) and float(price) > 0 for price in model["pricing"].values())
        assert model["top_provider"]["context_length"] == model["context_length"]


def test_builtins_follow_openrouter_where_the_guide_disagrees():
    assert "audio" not in builtin_by_id("openai/gpt-4o")["architecture"]["input_modalities"]
    assert "tools" not in builtin_by_id("openai/o1-pro")["supported_parameters"]
    assert builtin_by_id("anthropic/claude-sonnet-4.5")["context_length"] == 1_000_000
    assert builtin_by_id("openai/gpt-5.2")["context_length"] == 400_000
    assert builtin_by_id("google/gemini-2.5-flash")["context_length"] == 1_048_576
    assert builtin_by_id("openai/gpt-4o")["pricing"] == {"prompt": "0.0000025", "completion": "0.00001"}
    assert builtin_by_id("openai/gpt-4o-audio-preview")["architecture"]["modality"] == "text+audio->text"


# --- enrich ----------------------------------------------------------------------------------------------


def test_enrich_returns_a_new_dict_with_tier_premium_and_capabilities():
    model = builtin_by_id("anthropic/claude-opus-4.5")
    enriched = enrich(model)
    assert "tier" not in model and enriched is not model
    assert enriched["tier"] == "flagship" and enriched["premium"] is True
    assert enriched["capabilities"] == {
        "vision": True,
        "audio": False,
        "functions": True,
        "streaming": True,
        "max_context": 200_000,
    }
    assert {k: v for k, v in enriched.items() if k in MODEL_FIELDS} == model


def test_enrich_prefers_openrouters_live_fields():
    model = builtin_by_id("openai/gpt-4o")
    model["architecture"]["input_modalities"].append("audio")
    model["supported_parameters"] = []
    model["context_length"] = 64_000
    caps = enrich(model)["capabilities"]
    assert caps == {"vision": True, "audio": True, "functions": False, "streaming": True, "max_context": 64_000}


def test_enrich_falls_back_to_the_builtin_entry_for_missing_fields():
    model = {"id": "google/gemini-2.5-pro", "name": "Gemini", "architecture": "garbage"}
    caps = enrich(model)["capabilities"]
    assert caps == {"vision": True, "audio": True, "functions": True, "streaming": True, "max_context": 1_048_576}


def test_enrich_unknown_model_without_fields_has_no_capabilities():
    assert enrich({"id": "acme/mystery"}) == {
        "id": "acme/mystery",
        "tier": None,
        "premium": False,
        "capabilities": {"vision": False, "audio": False, "functions": False, "streaming": True, "max_context": 0},
    }


def test_enrich_no_streaming_for_a_model_without_text_output():
    model = live_model("acme/embedder", ["text"])
    model["architecture"]["output_modalities"] = ["embeddings"]
    assert enrich(model)["capabilities"]["streaming"] is False


@pytest.mark.parametrize(
    "model_id", ["openai/gpt-4o:nitro", "~anthropic/claude-sonnet-latest", "openai/gpt-4o-2024-05-13", "OPENAI/GPT-4O"]
)
def test_only_exact_ids_are_premium(model_id):
    enriched = enrich({"id": model_id})
    assert (enriched["tier"], enriched["premium"]) == (None, False)


# --- the list --------------------------------------------------------------------------------------------


def test_models_lists_premium_by_tier_then_the_rest_in_openrouters_order(catalogue):
    assert ids(catalogue.models()) == PREMIUM_ORDER + ids(EXTRAS_IN_ORDER)
    assert [m["tier"] for m in catalogue.models()[:10]] == list(PREMIUM_TIERS.values())


def test_models_returns_a_copy_of_the_list(catalogue):
    catalogue.models().clear()
    assert len(catalogue.models()) == 15


def test_bad_entries_are_skipped(clock):
    payload = [None, "openai/gpt-4o", {"name": "no id"}, {"id": 42}, {"id": ["x"]}, LLAMA, dict(LLAMA), AUTO]
    catalogue = ModelCatalogue(FakeFetch(payload), clock=clock)
    assert ids(catalogue.models()) == [LLAMA["id"], AUTO["id"]]
    assert catalogue.source == "live"


def test_a_dict_payload_with_a_data_list_is_accepted(clock):
    catalogue = ModelCatalogue(FakeFetch({"data": [LLAMA]}), clock=clock)
    assert ids(catalogue.models()) == [LLAMA["id"]]


@pytest.mark.parametrize("payload", [{"error": {"code": 500}}, {"data": None}, "oops", [], [None, {"id": 1}]])
def test_a_payload_without_usable_models_is_a_failure(clock, payload):
    catalogue = ModelCatalogue(FakeFetch(payload), clock=clock)
    assert ids(catalogue.models()) == PREMIUM_ORDER
    assert catalogue.source == "builtin"


# --- filter ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({}, PREMIUM_ORDER + ids(EXTRAS_IN_ORDER)),
        ({"tier": "flagship"}, FLAGSHIP),
        ({"tier": "fast"}, ["google/gemini-2.5-flash", "google/gemini-3-flash-preview"]),
        ({"capabilities": ["audio"]}, PREMIUM_AUDIO + [VOXTRAL["id"]]),
        ({"capabilities": ["vision", "audio"], "premium": False}, []),
        ({"capabilities": ["audio", "functions"], "premium": False}, [VOXTRAL["id"]]),
        ({"capabilities": ["vision"], "tier": "flagship"}, FLAGSHIP),
        ({"capabilities": ["functions"], "tier": "flagship"}, FLAGSHIP[:2]),
        ({"q": "GPT-4O"}, ["openai/gpt-4o", "openai/gpt-4o-audio-preview", GPT4O_NITRO["id"]]),
        ({"q": "auto router"}, [AUTO["id"]]),
        ({"q": "claude", "premium": False}, [SONNET_LATEST["id"]]),
        ({"premium": True}, PREMIUM_ORDER),
        ({"premium": False}, ids(EXTRAS_IN_ORDER)),
        ({"q": "no such model"}, []),
    ],
)
def test_filter(catalogue, criteria, expected):
    assert ids(catalogue.filter(catalogue.models(), **criteria)) == expected


def test_filter_rejects_an_unknown_capability(catalogue):
    with pytest.raises(ValueError, match="streaming"):
        catalogue.filter(catalogue.models(), capabilities=["streaming"])


# --- get, supports, capable_models -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id",
    [
        "anthropic/claude-sonnet-4.5",
        "meta-llama/llama-3.3-70b-instruct:free",
        "~anthropic/claude-sonnet-latest",
        "openrouter/auto",
        "openai/gpt-4o:nitro",
    ],
)
def test_get_matches_exact_ids(catalogue, model_id):
    assert catalogue.get(model_id)["id"] == model_id


@pytest.mark.parametrize(
    "model_id",
    [
        "anthropic/claude-sonnet-4-5",
        "claude-sonnet-4.5",
        "openai/gpt-4o:free",
        "anthropic/claude-sonnet-latest",
        "",
    ],
)
def test_get_unknown_is_none(catalogue, model_id):
    assert catalogue.get(model_id) is None


def test_get_answers_enriched_models(catalogue):
    assert catalogue.get("openai/gpt-4o:nitro")["premium"] is False
    assert catalogue.get("openai/gpt-4o")["tier"] == "balanced"


def test_capable_models_premium_first(catalogue):
    assert catalogue.capable_models("audio") == PREMIUM_AUDIO + [VOXTRAL["id"]]
    assert "openai/o1-pro" not in catalogue.capable_models("functions")
    assert catalogue.capable_models("vision")[-3:] == [AUTO["id"], SONNET_LATEST["id"], GPT4O_NITRO["id"]]


def test_supports(clock):
    payload = [m for m in live_list() if m["id"] != "openai/gpt-4o-audio-preview"]
    catalogue = ModelCatalogue(FakeFetch(payload), clock=clock)
    assert catalogue.supports("openai/gpt-4o", "vision") is True
    assert catalogue.supports("openai/gpt-4o", "audio") is False
    assert catalogue.supports(VOXTRAL["id"], "audio") is True
    assert catalogue.supports("openai/gpt-4o-audio-preview", "audio") is True  # built-in, not listed live
    assert catalogue.supports("acme/unknown", "vision") is None
    with pytest.raises(ValueError):
        catalogue.supports("openai/gpt-4o", "telepathy")


# --- recommend -------------------------------------------------------------------------------------------

CAPABLE_EXTRAS = {
    "vision": [AUTO["id"], SONNET_LATEST["id"]],  # capped at 8: gpt-4o:nitro does not fit
    "audio": [VOXTRAL["id"]],
    "long-context": [AUTO["id"], SONNET_LATEST["id"]],
    "function-calling": [LLAMA["id"], AUTO["id"]],
}


@pytest.mark.parametrize("use_case", sorted(USE_CASES))
def test_recommend_curated_order_then_capable_others(catalogue, use_case):
    curated = [model_id for model_id, _ in USE_CASES[use_case].picks]
    models = catalogue.recommend(use_case)
    assert ids(models) == curated + CAPABLE_EXTRAS.get(use_case, [])
    assert len(models) <= 8
    assert all(m["reason"] and "\n" not in m["reason"] for m in models)
    assert all(m["capabilities"] and "tier" in m for m in models)


@pytest.mark.parametrize(
    ("use_case", "rule"),
    [
        ("vision", lambda caps: caps["vision"]),
        ("audio", lambda caps: caps["audio"]),
        ("long-context", lambda caps: caps["max_context"] >= 1_000_000),
        ("function-calling", lambda caps: caps["functions"]),
        ("coding", lambda caps: caps["functions"]),
    ],
)
def test_recommend_keeps_only_capable_models(catalogue, use_case, rule):
    assert all(rule(m["capabilities"]) for m in catalogue.recommend(use_case))


def test_audio_never_recommends_gpt_4o(catalogue):
    assert "openai/gpt-4o" not in ids(catalogue.recommend("audio"))
    assert ids(catalogue.recommend("audio"))[-1] == VOXTRAL["id"]


def test_recommend_drops_models_missing_from_the_list_or_losing_a_capability(clock):
    payload = [m for m in live_list() if m["id"] != "google/gemini-2.5-flash"]
    gemini_pro = next(m for m in payload if m["id"] == "google/gemini-2.5-pro")
    gemini_pro["architecture"]["input_modalities"] = ["text", "image"]
    catalogue = ModelCatalogue(FakeFetch(payload), clock=clock)
    assert ids(catalogue.recommend("audio")) == PREMIUM_AUDIO[2:] + [VOXTRAL["id"]]


def test_recommend_caps_the_list_at_eight(clock):
    payload = live_list() + [live_model(f"acme/listener-{n}", ["text", "audio"]) for n in range(10)]
    models = ModelCatalogue(FakeFetch(payload), clock=clock).recommend("audio")
    assert ids(models)[4:] == [VOXTRAL["id"], "acme/listener-0", "acme/listener-1", "acme/listener-2"]
    assert models[-1]["reason"] == "Takes audio input"


def test_recommend_unknown_use_case_is_a_key_error(catalogue):
    with pytest.raises(KeyError):
        catalogue.recommend("astrology")


def test_use_cases_include_what_the_api_promises():
    promised = {
        "general",
        "reasoning",
        "coding",
        "writing",
        "math",
        "analysis",
        "vision",
        "audio",
        "long-context",
        "fast",
        "function-calling",
    }
    assert set(USE_CASES) == promised
    assert all(model_id in PREMIUM_TIERS for case in USE_CASES.values() for model_id, _ in case.picks)


# --- the cache -------------------------------------------------------------------------------------------


def test_one_fetch_for_many_calls_inside_the_ttl(catalogue, fetch, clock):
    for _ in range(5):
        clock.now += 59
        catalogue.models()
        catalogue.get("openai/gpt-4o")
        catalogue.recommend("general")
    assert fetch.calls == 1
    assert catalogue.source == "live"


def test_refresh_after_the_ttl(catalogue, fetch, clock):
    catalogue.models()
    fetch.payload = [LLAMA]
    clock.now += 299.9
    assert catalogue.get(LLAMA["id"]) and len(catalogue.models()) == 15
    clock.now += 0.1
    assert catalogue.source == "stale"
    assert ids(catalogue.models()) == [LLAMA["id"]]
    assert fetch.calls == 2
    assert catalogue.source == "live"


def run_threads(count, target):
    """Start `count` threads on target together; return (threads, results list filled as they end)."""
    results, start = [], threading.Barrier(count)

    def call():
        start.wait()
        results.append(target())

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def test_cold_cache_one_fetch_while_everyone_waits_for_it(catalogue, fetch):
    fetch.gate = threading.Event()
    threads, results = run_threads(20, catalogue.models)
    assert fetch.entered.wait(5)
    assert results == []  # nobody answered from the built-ins while the first fetch was under way
    fetch.gate.set()
    for thread in threads:
        thread.join(5)
    assert fetch.calls == 1
    assert len(results) == 20
    assert all(ids(models) == PREMIUM_ORDER + ids(EXTRAS_IN_ORDER) for models in results)


def test_cold_cache_waiters_get_the_builtins_when_the_first_fetch_fails(catalogue, fetch):
    fetch.gate, fetch.error = threading.Event(), RuntimeError("upstream down")
    threads, results = run_threads(10, catalogue.models)
    assert fetch.entered.wait(5)
    fetch.gate.set()
    for thread in threads:
        thread.join(5)
    assert fetch.calls == 1
    assert [ids(models) for models in results] == [PREMIUM_ORDER] * 10


def test_cold_cache_wait_is_bounded(fetch, clock):
    catalogue = ModelCatalogue(fetch, clock=clock, first_fetch_wait=0.01)
    fetch.gate = threading.Event()
    first = threading.Thread(target=catalogue.models)
    first.start()
    assert fetch.entered.wait(5)
    assert ids(catalogue.models()) == PREMIUM_ORDER
    fetch.gate.set()
    first.join(5)
    assert len(catalogue.models()) == 15 and fetch.calls == 1


def test_a_caller_that_saw_no_copy_does_not_fetch_again_once_another_has(fetch):
    paused, resume = threading.Event(), threading.Event()

    def clock():
        # Hold the late caller after it has read the empty cache, until the main thread has fetched.
        if threading.current_thread().name == "late" and not paused.is_set():
            paused.set()
            assert resume.wait(5)
        return 1000.0

    catalogue = ModelCatalogue(fetch, clock=clock)
    results = []
    late = threading.Thread(target=lambda: results.append(catalogue.models()), name="late")
    late.start()
    assert paused.wait(5)
    catalogue.models()
    resume.set()
    late.join(5)
    assert fetch.calls == 1
    assert len(results[0]) == 15


def test_others_are_served_the_stale_copy_while_one_refreshes(catalogue, fetch, clock):
    old = ids(catalogue.models())
    clock.now += 300
    fetch.payload, fetch.gate, fetch.entered = [LLAMA], threading.Event(), threading.Event()
    threads, results = run_threads(1, catalogue.models)
    assert fetch.entered.wait(5)
    for _ in range(5):
        assert ids(catalogue.models()) == old
    assert catalogue.source == "stale"
    assert fetch.calls == 2
    fetch.gate.set()
    threads[0].join(5)
    assert ids(results[0]) == [LLAMA["id"]]
    assert ids(catalogue.models()) == [LLAMA["id"]]
    assert fetch.calls == 2


def test_last_good_copy_served_after_a_failure_and_no_retry_before_the_pause(catalogue, fetch, clock):
    good = ids(catalogue.models())
    clock.now += 300
    fetch.error = ConnectionError("boom")
    assert ids(catalogue.models()) == good
    assert (fetch.calls, catalogue.source) == (2, "stale")
    clock.now += 29.9
    assert ids(catalogue.models()) == good
    assert catalogue.get(LLAMA["id"]) is not None
    assert fetch.calls == 2
    clock.now += 0.1
    catalogue.models()
    assert fetch.calls == 3
    fetch.error, fetch.payload = None, [AUTO]
    clock.now += 30
    assert ids(catalogue.models()) == [AUTO["id"]]
    assert (fetch.calls, catalogue.source) == (4, "live")


def test_builtins_when_the_first_fetch_fails_then_retried_after_the_pause(catalogue, fetch, clock):
    fetch.error = TimeoutError("slow")
    assert ids(catalogue.models()) == PREMIUM_ORDER
    assert catalogue.source == "builtin"
    assert catalogue.get("openai/gpt-4o")["tier"] == "balanced"
    assert catalogue.get(LLAMA["id"]) is None
    clock.now += 29
    catalogue.models()
    assert fetch.calls == 1
    fetch.error = None
    clock.now += 1
    assert len(catalogue.models()) == 15
    assert (fetch.calls, catalogue.source) == (2, "live")


def test_source_before_any_call_is_builtin(catalogue, fetch):
    assert catalogue.source == "builtin"
    assert fetch.calls == 0
