"""The mock's model catalogue, shaped like OpenRouter's GET /models entries."""

from decimal import Decimal

# fmt: off
_ANTHROPIC = ["include_reasoning", "max_tokens", "reasoning", "response_format", "stop", "structured_outputs",
              "temperature", "tool_choice", "tools", "top_k", "top_p"]
_GPT5 = ["include_reasoning", "max_tokens", "reasoning", "response_format", "seed", "structured_outputs",
         "tool_choice", "tools"]
_O1 = ["include_reasoning", "max_tokens", "reasoning", "response_format", "seed", "structured_outputs"]
_GPT4O = ["frequency_penalty", "logit_bias", "logprobs", "max_tokens", "presence_penalty", "response_format",
          "seed", "stop", "structured_outputs", "temperature", "tool_choice", "tools", "top_logprobs",
          "top_p"]
_GEMINI = ["include_reasoning", "max_tokens", "reasoning", "response_format", "seed", "stop",
           "structured_outputs", "temperature", "tool_choice", "tools", "top_p"]
_OPEN = ["frequency_penalty", "max_tokens", "min_p", "presence_penalty", "repetition_penalty",
         "response_format", "seed", "stop", "temperature", "tool_choice", "tools", "top_k", "top_p"]
_R1 = ["include_reasoning", "max_tokens", "reasoning", "repetition_penalty", "seed", "stop", "temperature",
       "top_k", "top_p"]
_QWEN = _OPEN + ["include_reasoning", "reasoning"]
_ROUTER = sorted(set(_OPEN + _GPT4O + ["include_reasoning", "reasoning"]))

_TEXT = ["text"]
_IMG = ["text", "image"]
_IMG_FILE = ["text", "image", "file"]
_GOOGLE = ["text", "image", "file", "audio", "video"]
_AUDIO = ["text", "audio"]

PROVIDERS = {"anthropic": "Anthropic", "~anthropic": "Anthropic", "openai": "OpenAI",
             "google": "Google AI Studio", "meta-llama": "DeepInfra", "deepseek": "Chutes",
             "mistralai": "Mistral", "qwen": "Parasail", "openrouter": "OpenAI", "mock": "Mock"}
TOKENIZERS = {"anthropic": "Claude", "~anthropic": "Claude", "openai": "GPT", "google": "Gemini",
              "meta-llama": "Llama3", "deepseek": "DeepSeek", "mistralai": "Mistral", "qwen": "Qwen3",
              "openrouter": "Router"}
_CLAUDE_CACHE = {"input_cache_read": 0.3, "input_cache_write": 3.75}

# id, name, created, canonical_slug, context, max output, inputs, $/M in, $/M out, params, extra $/M
_TABLE = [
    ("anthropic/claude-opus-4.5", "Anthropic: Claude Opus 4.5", 1764010580,
     "anthropic/claude-4.5-opus-20251124", 200000, 64000, _IMG_FILE, 5, 25, _ANTHROPIC,
     {"input_cache_read": 0.5, "input_cache_write": 6.25}),
    ("anthropic/claude-sonnet-4.5", "Anthropic: Claude Sonnet 4.5", 1759161676,
     "anthropic/claude-4.5-sonnet-20250929", 1000000, 64000, _IMG_FILE, 3, 15, _ANTHROPIC, _CLAUDE_CACHE),
    ("openai/gpt-5.2", "OpenAI: GPT-5.2", 1765400000, "openai/gpt-5.2-20251211", 400000, 128000,
     ["file", "image", "text"], 1.75, 14, _GPT5, {"input_cache_read": 0.175}),
    ("openai/gpt-5.2-pro", "OpenAI: GPT-5.2 Pro", 1765400100, "openai/gpt-5.2-pro-20251211", 400000, 128000,
     ["image", "text", "file"], 21, 168, _GPT5, {}),
    ("openai/o1-pro", "OpenAI: o1-pro", 1742423211, "openai/o1-pro", 200000, 100000, _IMG_FILE, 150, 600,
     _O1, {}),
    ("openai/gpt-4o", "OpenAI: GPT-4o", 1715367049, "openai/gpt-4o", 128000, 16384, _IMG, 2.5, 10, _GPT4O,
     {"input_cache_read": 1.25}),
    ("openai/gpt-4o-audio-preview", "OpenAI: GPT-4o Audio", 1755233061, "openai/gpt-4o-audio-preview",
     128000, 16384, _AUDIO, 2.5, 10, _GPT4O, {"audio": 40}),
    ("google/gemini-2.5-pro", "Google: Gemini 2.5 Pro", 1750169544, "google/gemini-2.5-pro", 1048576,
     65536, _GOOGLE, 1.25, 10, _GEMINI, {"input_cache_read": 0.31}),
    ("google/gemini-2.5-flash", "Google: Gemini 2.5 Flash", 1750172488, "google/gemini-2.5-flash", 1048576,
     65535, _GOOGLE, 0.3, 2.5, _GEMINI, {"audio": 1, "input_cache_read": 0.03}),
    ("google/gemini-3-flash-preview", "Google: Gemini 3 Flash Preview", 1765987078,
     "google/gemini-3-flash-preview-20251217", 1048576, 65536, _GOOGLE, 0.5, 3, _GEMINI,
     {"audio": 1, "input_cache_read": 0.05}),
    ("meta-llama/llama-3.3-70b-instruct:free", "Meta: Llama 3.3 70B Instruct (free)", 1733506137,
     "meta-llama/llama-3.3-70b-instruct", 131072, 8192, _TEXT, 0, 0, _OPEN, {}),
    ("meta-llama/llama-3.3-70b-instruct", "Meta: Llama 3.3 70B Instruct", 1733506137,
     "meta-llama/llama-3.3-70b-instruct", 131072, 16384, _TEXT, 0.1, 0.32, _OPEN, {}),
    ("deepseek/deepseek-r1:free", "DeepSeek: R1 (free)", 1737381095, "deepseek/deepseek-r1", 163840, 163840,
     _TEXT, 0, 0, _R1, {}),
    ("mistralai/voxtral-small-24b-2507", "Mistral: Voxtral Small 24B 2507", 1761750000,
     "mistralai/voxtral-small-24b-2507", 32000, 8192, _AUDIO, 0.1, 0.3, _OPEN, {"audio": 100}),
    ("qwen/qwen3.5-35b-a3b", "Qwen: Qwen3.5 35B A3B", 1771900000, "qwen/qwen3.5-35b-a3b-20260224", 262144,
     65536, _IMG, 0.25, 2, _QWEN, {}),
    ("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", 1721260800, "openai/gpt-4o-mini", 128000, 16384,
     _IMG_FILE, 0.15, 0.6, _GPT4O, {"input_cache_read": 0.075}),
    ("anthropic/claude-haiku-4.5", "Anthropic: Claude Haiku 4.5", 1760547638,
     "anthropic/claude-4.5-haiku-20251001", 200000, 64000, _IMG, 1, 5, _ANTHROPIC,
     {"input_cache_read": 0.1, "input_cache_write": 1.25}),
    ("~anthropic/claude-sonnet-latest", "Anthropic: Claude Sonnet Latest", 1759161676,
     "anthropic/claude-4.5-sonnet-20250929", 1000000, 64000, _IMG_FILE, 3, 15, _ANTHROPIC, _CLAUDE_CACHE),
    ("openrouter/auto", "Auto Router", 1699401600, "openrouter/auto", 2000000, None, _IMG, -1, -1,
     _ROUTER, {}),
]
# fmt: on


def per_token(per_million) -> str:
    """Format a $/M price as OpenRouter's per-token decimal string."""
    if per_million == -1:
        return "-1"
    return format((Decimal(str(per_million)) / Decimal(1_000_000)).normalize(), "f")


def _entry(row) -> dict:
    mid, name, created, canonical, ctx, max_out, inputs, p_in, p_out, params, extra = row
    author = mid.split("/", 1)[0]
    pricing = {"prompt": per_token(p_in), "completion": per_token(p_out)}
    pricing.update({k: per_token(v) for k, v in extra.items()})
    return {
        "id": mid,
        "canonical_slug": canonical,
        "hugging_face_id": "meta-llama/Llama-3.3-70B-Instruct" if author == "meta-llama" else "",
        "name": name,
        "created": created,
        "description": f"{name} (OpenRouter stand-in catalogue entry).",
        "context_length": ctx,
        "architecture": {
            "modality": "+".join(inputs) + "->text",
            "input_modalities": list(inputs),
            "output_modalities": ["text"],
            "tokenizer": TOKENIZERS.get(author, "Other"),
            "instruct_type": None,
        },
        "pricing": pricing,
        "top_provider": {
            "context_length": ctx,
            "max_completion_tokens": max_out,
            "is_moderated": author in ("openai", "anthropic"),
        },
        "per_request_limits": None,
        "supported_parameters": list(params),
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "expiration_date": None,
    }


MODELS = [_entry(row) for row in _TABLE]
BY_ID = {m["id"]: m for m in MODELS}
_PRICES = {row[0]: (max(row[7], 0) / 1e6, max(row[8], 0) / 1e6) for row in _TABLE}
MOCK_MODEL = {
    "architecture": {"input_modalities": ["text", "image", "file", "audio", "video"]},
    "supported_parameters": _ROUTER + ["tools", "tool_choice"],
}


def lookup(model_id: str):
    """Return the catalogue entry for an id (a :variant of a listed id uses it), or None."""
    if model_id.startswith("mock/"):
        return MOCK_MODEL
    return BY_ID.get(model_id) or BY_ID.get(model_id.split(":", 1)[0])


def prices(model_id: str) -> tuple:
    """Return (prompt, completion) USD per token for usage costs."""
    return _PRICES.get(model_id) or _PRICES.get(model_id.split(":", 1)[0]) or (1e-6, 2e-6)


def provider_name(model_id: str) -> str:
    """Return the display name of the provider that 'serves' a model."""
    return PROVIDERS.get(model_id.split("/", 1)[0], "Mock")


def endpoints_payload(model_id: str):
    """Build the GET /models/{author}/{slug}/endpoints body, or None for an unknown id."""
    m = BY_ID.get(model_id)
    if m is None:
        return None
    author = model_id.split("/", 1)[0]
    arch = m["architecture"]
    endpoint = {
        "name": f"{provider_name(model_id)} | {m['canonical_slug']}",
        "model_id": model_id,
        "model_name": m["name"],
        "context_length": m["context_length"],
        "pricing": dict(m["pricing"], request="0", image="0"),
        "provider_name": provider_name(model_id),
        "tag": provider_name(model_id).lower().replace(" ", "-"),
        "quantization": "unknown" if author in ("openai", "anthropic", "google") else "fp8",
        "max_completion_tokens": m["top_provider"]["max_completion_tokens"],
        "max_prompt_tokens": m["context_length"],
        "supported_parameters": m["supported_parameters"],
        "status": 0,
        "uptime_last_30m": 99.5,
        "supports_implicit_caching": author != "anthropic",
        "latency_last_30m": {"p50": 0.25, "p75": 0.35, "p90": 0.48, "p99": 0.85},
        "throughput_last_30m": {"p50": 45.2, "p75": 38.5, "p90": 28.3, "p99": 15.1},
    }
    return {
        "data": {
            "id": model_id,
            "name": m["name"],
            "created": m["created"],
            "description": m["description"],
            "architecture": {
                "tokenizer": arch["tokenizer"],
                "instruct_type": arch["instruct_type"],
                "modality": arch["modality"],
                "input_modalities": arch["input_modalities"],
                "output_modalities": arch["output_modalities"],
            },
            "endpoints": [endpoint],
        }
    }


def key_payload(api_key: str) -> dict:
    """Build the GET /key body for a key."""
    label = f"{api_key[:12]}...{api_key[-3:]}" if len(api_key) > 12 else api_key
    return {
        "data": {
            "label": label,
            "limit": 100,
            "limit_remaining": 74.5,
            "limit_reset": "monthly",
            "include_byok_in_limit": False,
            "usage": 25.5,
            "usage_daily": 1.25,
            "usage_weekly": 8.5,
            "usage_monthly": 25.5,
            "byok_usage": 0,
            "byok_usage_daily": 0,
            "byok_usage_weekly": 0,
            "byok_usage_monthly": 0,
            "is_free_tier": False,
            "is_provisioning_key": False,
            "expires_at": None,
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }
    }


CREDITS = {"data": {"total_credits": 100.5, "total_usage": 25.75}}
