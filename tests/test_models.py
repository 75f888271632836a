"""The model catalogue endpoints: list and filters, one model, recommendations, cache, fallbacks, OpenAI SDK."""

from multiprocessing.pool import ThreadPool

import openai
import pytest
import requests
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from services.catalogue import PREMIUM_TIERS, USE_CASES
from tests.conftest import MOCK_KEY, MOCK_OTHER_MODELS, assert_error, gateway_app, make_app, token_for
from tests.servers import free_port, serve_app
from webapp.composition import services_of

BASE = "/api/v2/openrouter"
PREMIUM = list(PREMIUM_TIERS)
OTHERS = MOCK_OTHER_MODELS  # the stand-in's non-premium models, in its own order
GOOGLE = ["google/gemini-2.5-pro", "google/gemini-2.5-flash", "google/gemini-3-flash-preview"]
NON_PREMIUM_VISION = OTHERS[OTHERS.index("qwen/qwen3.5-35b-a3b") :]  # qwen3.5 onward take images
NO_TOOLS = {"openai/o1-pro", "deepseek/deepseek-r1:free"}
REQUIRES = {  # what each use case's models must have
    "coding": "functions",
    "function-calling": "functions",
    "vision": "vision",
    "audio": "audio",
}


@pytest.fixture
def api(gateway):
    """A test client and a GET helper with a token, against the stand-in."""
    client, headers = gateway.test_client(), {"Authorization": f"Bearer {token_for(gateway)}"}
    return lambda path, **params: client.get(BASE + path, headers=headers, query_string=params or None)


def ids(models):
    return [m["id"] for m in models]


def listed(api, **params):
    response = api("/models", **params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return ids(response.get_json()["data"])


def model_schema_validator(spec, name):
    """A validator for one of the spec's component schemas, resolving its references."""
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


# --- list -------------------------------------------------------------------------------------------------


def test_list_is_an_openai_list_of_enriched_models_premium_first(api, upstream):
    response = api("/models")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"object", "data"} and body["object"] == "list"
    assert ids(body["data"]) == PREMIUM + OTHERS
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id["openai/gpt-4o"]["tier"] == "balanced" and by_id["openai/gpt-4o"]["premium"] is True
    assert by_id["openai/gpt-4o-audio-preview"]["tier"] is None and by_id["openai/gpt-4o-audio-preview"]["premium"]
    assert by_id["openrouter/auto"]["tier"] is None and by_id["openrouter/auto"]["premium"] is False
    assert by_id["openai/gpt-4o"]["capabilities"] == {
        "vision": True,
        "audio": False,
        "functions": True,
        "streaming": True,
        "max_context": 128_000,
    }
    for model in body["data"]:
        assert model["object"] == "model"
        assert model["owned_by"] == model["id"].lstrip("~").split("/")[0]
        assert isinstance(model["created"], int)
        assert model["pricing"]["prompt"]  # OpenRouter's own fields pass through
    assert upstream.hits("/models") == 1


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"tier": "flagship"}, ["anthropic/claude-opus-4.5", "openai/gpt-5.2-pro", "openai/o1-pro"]),
        (
            {"tier": "balanced"},
            ["anthropic/claude-sonnet-4.5", "openai/gpt-5.2", "openai/gpt-4o", "google/gemini-2.5-pro"],
        ),
        ({"tier": "fast"}, ["google/gemini-2.5-flash", "google/gemini-3-flash-preview"]),
        ({"capability": "audio"}, [*GOOGLE, "openai/gpt-4o-audio-preview", "mistralai/voxtral-small-24b-2507"]),
        ({"capability": "vision"}, PREMIUM[:9] + NON_PREMIUM_VISION),
        ({"capability": "functions"}, [m for m in PREMIUM + OTHERS if m not in NO_TOOLS]),
        ({"capability": "vision,audio"}, GOOGLE),
        ({"capability": " audio , vision "}, GOOGLE),
        ({"capability": ["audio", "vision"]}, GOOGLE),  # repeated parameter = comma list
        ({"q": "llama"}, OTHERS[:2]),
        ({"q": "LLaMA"}, OTHERS[:2]),
        ({"q": "auto router"}, ["openrouter/auto"]),  # matches the name only
        ({"q": ":free"}, ["meta-llama/llama-3.3-70b-instruct:free", "deepseek/deepseek-r1:free"]),
        ({"q": "no-such-model"}, []),
        ({"q": ""}, PREMIUM + OTHERS),
        ({"premium": "true"}, PREMIUM),
        ({"premium": "True"}, PREMIUM),
        ({"premium": "false"}, OTHERS),
        ({"tier": "balanced", "capability": "audio"}, ["google/gemini-2.5-pro"]),
        ({"premium": "false", "capability": "vision"}, NON_PREMIUM_VISION),
        (
            {"q": "gpt", "capability": "functions", "premium": "true"},
            ["openai/gpt-5.2-pro", "openai/gpt-5.2", "openai/gpt-4o", "openai/gpt-4o-audio-preview"],
        ),
        ({"tier": "fast", "premium": "false"}, []),
        ({"limit": "2", "order": "desc", "foo": "bar"}, PREMIUM + OTHERS),  # unknown parameters are ignored
    ],
)
def test_list_filters(api, params, expected):
    assert listed(api, **params) == expected


@pytest.mark.parametrize(
    "params, field",
    [
        ({"tier": "premium"}, "tier"),
        ({"tier": "Flagship"}, "tier"),
        ({"tier": ""}, "tier"),
        ({"capability": "video"}, "capability"),
        ({"capability": "vision,tools"}, "capability"),
        ({"capability": "vision,"}, "capability"),
        ({"capability": ""}, "capability"),
        ({"premium": "yes"}, "premium"),
        ({"premium": "1"}, "premium"),
        ({"premium": ""}, "premium"),
        ({"q": "x" * 201}, "q"),
        ({"tier": "fast", "premium": "maybe"}, "premium"),
    ],
)
def test_list_bad_filter_is_400_naming_the_parameter(api, upstream, params, field):
    error = assert_error(api("/models", **params), 400, "invalid_request_error", f"{field}: ")
    assert list(error["details"]) == [field]
    assert error["message"] == f"{field}: {error['details'][field][0]}"


def test_bad_filter_messages_say_what_is_valid(api):
    assert (
        "vision, audio, functions"
        in assert_error(api("/models", capability="video"), 400, "invalid_request_error")["message"]
    )
    assert_error(api("/models", tier="x"), 400, "invalid_request_error", "flagship, balanced, fast")
    assert_error(api("/models", premium="yes"), 400, "invalid_request_error", "Must be true or false.")


# --- one model --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id",
    [
        "anthropic/claude-sonnet-4.5",
        "openai/gpt-4o-audio-preview",
        "meta-llama/llama-3.3-70b-instruct:free",
        "~anthropic/claude-sonnet-latest",
        "openrouter/auto",
        "qwen/qwen3.5-35b-a3b",
    ],
)
def test_get_model_by_full_id(api, model_id):
    response = api(f"/models/{model_id}")
    assert response.status_code == 200
    model = response.get_json()
    assert model["id"] == model_id
    assert model == next(m for m in api("/models").get_json()["data"] if m["id"] == model_id)


@pytest.mark.parametrize(
    "path",
    [
        "anthropic%2Fclaude-sonnet-4.5",
        "meta-llama%2Fllama-3.3-70b-instruct%3Afree",
        "%7Eanthropic%2Fclaude-sonnet-latest",
    ],
)
def test_get_model_with_percent_encoded_id(api, path):
    response = api(f"/models/{path}")
    assert response.status_code == 200
    assert response.get_json()["id"] == requests.utils.unquote(path)


@pytest.mark.parametrize(
    "model_id",
    [
        "openai/gpt-4o:nitro",
        "anthropic/claude-sonnet-4-5",
        "nobody/nothing",
        "openai",
        "recommended",
        "openai/gpt-4o/extra",
    ],
)
def test_unknown_model_is_404_naming_it(api, model_id):
    error = assert_error(api(f"/models/{model_id}"), 404, "not_found_error")
    assert error["message"] == f"Model '{model_id}' does not exist"
    assert "details" not in error


def test_recommended_still_routes_to_recommendations(api):
    response = api("/models/recommended/general")
    assert response.status_code == 200
    assert set(response.get_json()) == {"use_case", "models"}


# --- recommendations --------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_case", list(USE_CASES))
def test_recommendations_premium_first_and_only_capable_models(api, use_case):
    response = api(f"/models/recommended/{use_case}")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"use_case", "models"} and body["use_case"] == use_case
    models = body["models"]
    assert models and len(ids(models)) == len(set(ids(models))) <= 8
    flags = [m["premium"] for m in models]
    assert flags == sorted(flags, reverse=True), "premium models come first"
    # Every premium pick of the stand-in's list has what its use case needs, so all of them come, in order.
    assert [m["id"] for m in models if m["premium"]] == [i for i, _ in USE_CASES[use_case].picks]
    for model in models:
        assert isinstance(model["reason"], str) and model["reason"]
        assert model["object"] == "model" and "capabilities" in model
        if use_case in REQUIRES:
            assert model["capabilities"][REQUIRES[use_case]] is True, model["id"]
        if use_case == "long-context":
            assert model["capabilities"]["max_context"] >= 1_000_000, model["id"]


@pytest.mark.parametrize(
    "use_case, expected",
    [
        (
            "audio",
            [
                "google/gemini-2.5-flash",
                "google/gemini-2.5-pro",
                "google/gemini-3-flash-preview",
                "openai/gpt-4o-audio-preview",
                "mistralai/voxtral-small-24b-2507",
            ],
        ),
        (
            "vision",
            [
                "openai/gpt-4o",
                "openai/gpt-5.2",
                "google/gemini-2.5-pro",
                "anthropic/claude-sonnet-4.5",
                "google/gemini-3-flash-preview",
                "google/gemini-2.5-flash",
                "qwen/qwen3.5-35b-a3b",
                "openai/gpt-4o-mini",
            ],
        ),
        (
            "coding",
            ["anthropic/claude-sonnet-4.5", "anthropic/claude-opus-4.5", "openai/gpt-5.2", "openai/gpt-5.2-pro"],
        ),
        ("math", ["openai/o1-pro", "openai/gpt-5.2-pro", "anthropic/claude-opus-4.5"]),
        (
            "long-context",
            [
                "google/gemini-2.5-pro",
                "anthropic/claude-sonnet-4.5",
                "google/gemini-2.5-flash",
                "google/gemini-3-flash-preview",
                "~anthropic/claude-sonnet-latest",
                "openrouter/auto",
            ],
        ),
        ("fast", ["google/gemini-2.5-flash", "google/gemini-3-flash-preview", "openai/gpt-4o"]),
    ],
)
def test_recommendation_order(api, use_case, expected):
    assert ids(api(f"/models/recommended/{use_case}").get_json()["models"]) == expected


def test_audio_never_recommends_gpt_4o_and_function_calling_never_o1_pro(api):
    assert "openai/gpt-4o" not in ids(api("/models/recommended/audio").get_json()["models"])
    for use_case in ("coding", "function-calling"):
        assert not NO_TOOLS & set(ids(api(f"/models/recommended/{use_case}").get_json()["models"]))


@pytest.mark.parametrize("use_case", ["nonsense", "Vision", "long_context", "general.json"])
def test_unknown_use_case_is_404_listing_the_valid_ones(api, use_case):
    error = assert_error(api(f"/models/recommended/{use_case}"), 404, "not_found_error")
    valid = ", ".join(USE_CASES)
    assert error["message"] == f"Unknown use case '{use_case}'; valid use cases: {valid}"
    assert error["details"] == {"use_case": [f"Must be one of: {valid}."]}


# --- auth -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/models", "/models/openai/gpt-4o", "/models/recommended/general"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_token_required(gateway, upstream, path, headers):
    assert_error(gateway.test_client().get(BASE + path, headers=headers), 401, "authentication_error")
    assert upstream.hits("/models") == 0


# --- cache and fallbacks ----------------------------------------------------------------------------------


def test_one_upstream_fetch_serves_many_calls_within_the_ttl(api, upstream):
    for path in ["/models", "/models?tier=fast", "/models/openai/gpt-4o", "/models/recommended/audio"] * 5:
        assert api(path).status_code == 200
    assert upstream.hits("/models") == 1


def test_concurrent_cold_callers_share_one_upstream_fetch(upstream):
    upstream.configure(models_delay_ms=300)
    app = gateway_app(upstream)
    headers = {"Authorization": f"Bearer {token_for(app)}"}
    with serve_app(app) as base, ThreadPool(16) as pool:
        responses = pool.map(lambda _: requests.get(f"{base}{BASE}/models", headers=headers, timeout=10), range(16))
    assert [r.status_code for r in responses] == [200] * 16
    assert all(ids(r.json()["data"]) == PREMIUM + OTHERS for r in responses)
    assert upstream.hits("/models") == 1


@pytest.mark.parametrize("fault", ["500", "drop", "invalid-json"])
def test_last_good_copy_is_served_when_openrouter_fails(upstream, fault):
    app = gateway_app(upstream, MODELS_CACHE_TTL=0.0)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app)}"}
    assert ids(client.get(f"{BASE}/models", headers=headers).get_json()["data"]) == PREMIUM + OTHERS
    upstream.configure(models_fault=fault)
    response = client.get(f"{BASE}/models", headers=headers)
    assert upstream.hits("/models") > 1, "a refresh was attempted"
    assert response.status_code == 200
    assert ids(response.get_json()["data"]) == PREMIUM + OTHERS  # live-only ids included
    assert services_of(app).catalogue.source == "stale"
    detail = client.get(f"{BASE}/models/meta-llama/llama-3.3-70b-instruct:free", headers=headers)
    assert detail.status_code == 200


def test_builtin_catalogue_is_served_when_openrouter_is_down_from_the_start():
    app = make_app(OPENROUTER_BASE_URL=f"http://127.0.0.1:{free_port()}/api/v1", OPENROUTER_API_KEY=MOCK_KEY)
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app)}"}
    response = client.get(f"{BASE}/models", headers=headers)
    assert response.status_code == 200
    models = response.get_json()["data"]
    assert ids(models) == PREMIUM and all(m["premium"] for m in models)
    assert ids(client.get(f"{BASE}/models?premium=true", headers=headers).get_json()["data"]) == PREMIUM
    assert client.get(f"{BASE}/models/openai/gpt-4o", headers=headers).get_json()["capabilities"]["audio"] is False
    error = assert_error(client.get(f"{BASE}/models/openrouter/auto", headers=headers), 404, "not_found_error")
    assert error["message"].startswith("Model 'openrouter/auto' does not exist (OpenRouter's model list is unavailable")


# --- OpenAI SDK and OpenAPI -------------------------------------------------------------------------------


def test_openai_sdk_lists_and_retrieves_models(gateway):
    with serve_app(gateway) as base:
        sdk = openai.OpenAI(base_url=f"{base}{BASE}", api_key=token_for(gateway), max_retries=0)
        page = sdk.models.list()
        assert [m.id for m in page.data] == PREMIUM + OTHERS
        assert all(m.object == "model" and isinstance(m.created, int) for m in page.data)
        sonnet = sdk.models.retrieve("anthropic/claude-sonnet-4.5")
        assert (sonnet.id, sonnet.owned_by, sonnet.object) == ("anthropic/claude-sonnet-4.5", "anthropic", "model")
        assert sonnet.model_extra["tier"] == "balanced"
        assert sonnet.model_extra["capabilities"]["max_context"] == 1_000_000
        llama = sdk.models.retrieve("meta-llama/llama-3.3-70b-instruct:free")
        assert (llama.id, llama.owned_by) == ("meta-llama/llama-3.3-70b-instruct:free", "meta-llama")
        assert sdk.models.retrieve("~anthropic/claude-sonnet-latest").owned_by == "anthropic"
        with pytest.raises(openai.NotFoundError) as raised:
            sdk.models.retrieve("nobody/nothing")
        assert raised.value.body["type"] == "not_found_error"


def test_openapi_documents_the_three_paths_and_responses_match_it(api, gateway):
    spec = gateway.test_client().get(f"{BASE}/openapi.json").get_json()
    validate(spec)
    for path in ("/models", "/models/{model_id}", "/models/recommended/{use_case}"):
        operation = spec["paths"][BASE + path]["get"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "401"} <= set(operation["responses"])
    params = {p["name"]: p for p in spec["paths"][f"{BASE}/models"]["get"]["parameters"]}
    assert set(params) == {"tier", "capability", "q", "premium"}
    assert params["tier"]["schema"]["enum"] == ["flagship", "balanced", "fast"]
    model_validator = model_schema_validator(spec, "ModelList")
    model_validator.validate(api("/models").get_json())
    for model_id in ("openrouter/auto", "~anthropic/claude-sonnet-latest"):
        model_schema_validator(spec, "Model").validate(api(f"/models/{model_id}").get_json())
    for use_case in USE_CASES:
        model_schema_validator(spec, "Recommendations").validate(api(f"/models/recommended/{use_case}").get_json())


def test_builtin_models_match_the_documented_schema(client):
    spec = client.get(f"{BASE}/openapi.json").get_json()
    headers = {"Authorization": f"Bearer {token_for(client.application)}"}
    model_schema_validator(spec, "ModelList").validate(client.get(f"{BASE}/models", headers=headers).get_json())
