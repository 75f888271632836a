"""The built-in catalogue: the premium models as OpenRouter publishes them, with the product guide's words.

Values come from openrouter-upstream.md §7; where the product guide's capability table disagrees
(gpt-4o takes no audio, Claude Sonnet 4.5 has 1M context, o1-pro lists no tools), OpenRouter wins.
Where §7 marks a value [UNCONFIRMED], the entry's comment says what stands in for it.
"""

from collections.abc import Callable
from typing import NamedTuple

TIERS = ("flagship", "balanced", "fast")

# Order inside a tier is the product guide's order; it is also the order premium models are listed in.
PREMIUM_TIERS = {
    "anthropic/claude-opus-4.5": "flagship",
    "openai/gpt-5.2-pro": "flagship",
    "openai/o1-pro": "flagship",
    "anthropic/claude-sonnet-4.5": "balanced",
    "openai/gpt-5.2": "balanced",
    "openai/gpt-4o": "balanced",
    "google/gemini-2.5-pro": "balanced",
    "google/gemini-2.5-flash": "fast",
    "google/gemini-3-flash-preview": "fast",
    "openai/gpt-4o-audio-preview": None,
}

# The guide says gpt-4o is good at audio; OpenRouter lists no audio input for it, so that word is gone.
STRENGTHS = {
    "anthropic/claude-opus-4.5": "Complex reasoning, analysis",
    "openai/gpt-5.2-pro": "General purpose, reliable",
    "openai/o1-pro": "Mathematics, logic",
    "anthropic/claude-sonnet-4.5": "Coding, writing, general",
    "openai/gpt-5.2": "Versatile, multimodal",
    "openai/gpt-4o": "Vision, speed",
    "google/gemini-2.5-pro": "Long documents, video",
    "google/gemini-2.5-flash": "Simple tasks, high volume",
    "google/gemini-3-flash-preview": "Multimodal quick tasks",
    "openai/gpt-4o-audio-preview": "Audio input",
}

_CLAUDE_PARAMS = [
    "include_reasoning",
    "max_tokens",
    "reasoning",
    "response_format",
    "stop",
    "structured_outputs",
    "temperature",
    "tool_choice",
    "tools",
    "top_k",
    "top_p",
]
# Verbatim from the published gpt-5.2 entry (§6.1): gpt-5.x takes no temperature.
_GPT5_PARAMS = [
    "include_reasoning",
    "max_tokens",
    "reasoning",
    "response_format",
    "seed",
    "structured_outputs",
    "tool_choice",
    "tools",
]
_O1_PARAMS = ["include_reasoning", "max_tokens", "reasoning", "response_format", "seed", "structured_outputs"]
_GPT4O_PARAMS = [
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "presence_penalty",
    "response_format",
    "seed",
    "stop",
    "structured_outputs",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
]
_GEMINI_PARAMS = [
    "include_reasoning",
    "max_tokens",
    "reasoning",
    "response_format",
    "seed",
    "stop",
    "structured_outputs",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
]

_DESCRIPTIONS = {
    "anthropic/claude-opus-4.5": "Most intelligent Claude",
    "openai/gpt-5.2-pro": "OpenAI flagship",
    "openai/o1-pro": "Reasoning specialist",
    "anthropic/claude-sonnet-4.5": "Fast + capable",
    "openai/gpt-5.2": "Latest GPT",
    "openai/gpt-4o": "Multimodal",
    "google/gemini-2.5-pro": "1M context",
    "google/gemini-2.5-flash": "Ultra-fast",
    "google/gemini-3-flash-preview": "Latest fast",
    "openai/gpt-4o-audio-preview": "OpenAI model that takes audio input",
}


def _per_token(per_million):
    """A price in USD per million tokens as OpenRouter's decimal string in USD per token."""
    return f"{per_million / 1_000_000:.10f}".rstrip("0").rstrip(".")


def _architecture(modality, tokenizer):
    """OpenRouter's architecture object from its `inputs->outputs` modality string."""
    inputs, outputs = modality.split("->")
    return {
        "modality": modality,
        "input_modalities": inputs.split("+"),
        "output_modalities": outputs.split("+"),
        "tokenizer": tokenizer,
        "instruct_type": None,
    }


def _model(model_id, name, *, slug, created, context, max_out, modality, tokenizer, price, params, **extra):
    """One model object with exactly the fields of OpenRouter's GET /models entries (§6.1)."""
    prompt, completion = price
    pricing = {"prompt": _per_token(prompt), "completion": _per_token(completion)}
    pricing.update({key: _per_token(value) for key, value in extra.items()})
    return {
        "id": model_id,
        "canonical_slug": slug,
        "hugging_face_id": "",
        "name": name,
        "created": created,
        "description": _DESCRIPTIONS[model_id],
        "context_length": context,
        "architecture": _architecture(modality, tokenizer),
        "pricing": pricing,
        "top_provider": {
            "context_length": context,
            "max_completion_tokens": max_out,
            "is_moderated": model_id.startswith("openai/"),
        },
        "per_request_limits": None,
        "supported_parameters": list(params),
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "expiration_date": None,
    }


# Where §7 gives no `created`, the value is the approximate release date (marked "created ~").
BUILTIN_MODELS = [
    _model(
        "anthropic/claude-opus-4.5",
        "Anthropic: Claude Opus 4.5",
        slug="anthropic/claude-4.5-opus-20251124",
        created=1764010580,
        context=200_000,
        max_out=64_000,
        modality="text+image+file->text",
        tokenizer="Claude",
        price=(5, 25),
        params=_CLAUDE_PARAMS,
        input_cache_read=0.5,
        input_cache_write=6.25,
    ),
    # created ~ (§6.1's placeholder for gpt-5.2, released the same day)
    _model(
        "openai/gpt-5.2-pro",
        "OpenAI: GPT-5.2 Pro",
        slug="openai/gpt-5.2-pro-20251211",
        created=1765400000,
        context=400_000,
        max_out=128_000,
        modality="text+image+file->text",
        tokenizer="GPT",
        price=(21, 168),
        params=_GPT5_PARAMS,
    ),
    # created ~; canonical slug unconfirmed (the id stands in); max output is OpenAI's own 100k cap.
    _model(
        "openai/o1-pro",
        "OpenAI: o1-pro",
        slug="openai/o1-pro",
        created=1742423211,
        context=200_000,
        max_out=100_000,
        modality="text+image->text",
        tokenizer="GPT",
        price=(150, 600),
        params=_O1_PARAMS,
    ),
    _model(
        "anthropic/claude-sonnet-4.5",
        "Anthropic: Claude Sonnet 4.5",
        slug="anthropic/claude-4.5-sonnet-20250929",
        created=1759161676,
        context=1_000_000,
        max_out=64_000,
        modality="text+image+file->text",
        tokenizer="Claude",
        price=(3, 15),
        params=_CLAUDE_PARAMS,
    ),
    # created ~ (§6.1's placeholder)
    _model(
        "openai/gpt-5.2",
        "OpenAI: GPT-5.2",
        slug="openai/gpt-5.2-20251211",
        created=1765400000,
        context=400_000,
        max_out=128_000,
        modality="text+image+file->text",
        tokenizer="GPT",
        price=(1.75, 14),
        params=_GPT5_PARAMS,
        input_cache_read=0.175,
    ),
    _model(
        "openai/gpt-4o",
        "OpenAI: GPT-4o",
        slug="openai/gpt-4o",
        created=1715367049,
        context=128_000,
        max_out=16_384,
        modality="text+image->text",
        tokenizer="GPT",
        price=(2.5, 10),
        params=_GPT4O_PARAMS,
    ),
    # created ~
    _model(
        "google/gemini-2.5-pro",
        "Google: Gemini 2.5 Pro",
        slug="google/gemini-2.5-pro",
        created=1750169544,
        context=1_048_576,
        max_out=65_536,
        modality="text+image+file+audio+video->text",
        tokenizer="Gemini",
        price=(1.25, 10),
        params=_GEMINI_PARAMS,
    ),
    _model(
        "google/gemini-2.5-flash",
        "Google: Gemini 2.5 Flash",
        slug="google/gemini-2.5-flash",
        created=1750172488,
        context=1_048_576,
        max_out=65_535,
        modality="text+image+file+audio+video->text",
        tokenizer="Gemini",
        price=(0.30, 2.50),
        params=_GEMINI_PARAMS,
        audio=1.00,
    ),
    _model(
        "google/gemini-3-flash-preview",
        "Google: Gemini 3 Flash Preview",
        slug="google/gemini-3-flash-preview-20251217",
        created=1765987078,
        context=1_048_576,
        max_out=65_536,
        modality="text+image+file+audio+video->text",
        tokenizer="Gemini",
        price=(0.50, 3),
        params=_GEMINI_PARAMS,
        audio=1.00,
    ),
    # Canonical slug and audio rates unconfirmed; it takes text and audio, not images.
    _model(
        "openai/gpt-4o-audio-preview",
        "OpenAI: GPT-4o Audio",
        slug="openai/gpt-4o-audio-preview",
        created=1755233061,
        context=128_000,
        max_out=16_384,
        modality="text+audio->text",
        tokenizer="GPT",
        price=(2.5, 10),
        params=_GPT4O_PARAMS,
    ),
]

LONG_CONTEXT = 1_000_000


class UseCase(NamedTuple):
    """What a use case needs (a capability name, a predicate on an enriched model, or None) and its picks."""

    requires: str | Callable[[dict], bool] | None
    picks: list[tuple[str, str]]
    # Set for capability use cases: other capable models from the live list follow, with this reason.
    more_reason: str | None = None


def _long_context(model):
    """True when the model's window holds at least a million tokens."""
    return model["capabilities"]["max_context"] >= LONG_CONTEXT


# Premium picks in the order they are recommended; the reasons come from the product guide.
USE_CASES = {
    "general": UseCase(
        None,
        [
            ("openai/gpt-5.2-pro", "OpenAI flagship: general purpose, reliable"),
            ("anthropic/claude-sonnet-4.5", "Fast and capable: coding, writing, general"),
            ("openai/gpt-5.2", "Latest GPT: versatile, multimodal"),
            ("anthropic/claude-opus-4.5", "Most intelligent Claude, for the hardest requests"),
            ("google/gemini-2.5-flash", "Ultra-fast: simple tasks, high volume"),
        ],
    ),
    "reasoning": UseCase(
        None,
        [
            ("anthropic/claude-opus-4.5", "Most intelligent Claude: complex reasoning"),
            ("openai/o1-pro", "Reasoning specialist: mathematics, logic"),
            ("openai/gpt-5.2-pro", "OpenAI flagship with reasoning"),
            ("google/gemini-2.5-pro", "Reasoning over long inputs"),
        ],
    ),
    "coding": UseCase(
        "functions",
        [
            ("anthropic/claude-sonnet-4.5", "Fast and capable: the guide's pick for coding"),
            ("anthropic/claude-opus-4.5", "Most intelligent Claude: complex code and refactors"),
            ("openai/gpt-5.2", "Latest GPT: versatile, with tool calling"),
            ("openai/gpt-5.2-pro", "OpenAI flagship: reliable on large changes"),
        ],
    ),
    "writing": UseCase(
        None,
        [
            ("anthropic/claude-sonnet-4.5", "Fast and capable: the guide's pick for writing"),
            ("anthropic/claude-opus-4.5", "Most intelligent Claude: long, careful prose"),
            ("openai/gpt-5.2", "Latest GPT: versatile"),
        ],
    ),
    "math": UseCase(
        None,
        [
            ("openai/o1-pro", "Reasoning specialist: mathematics, logic"),
            ("openai/gpt-5.2-pro", "OpenAI flagship with reasoning"),
            ("anthropic/claude-opus-4.5", "Most intelligent Claude: complex reasoning"),
        ],
    ),
    "analysis": UseCase(
        None,
        [
            ("anthropic/claude-opus-4.5", "Most intelligent Claude: complex reasoning, analysis"),
            ("google/gemini-2.5-pro", "1M context: analysis of long documents"),
            ("openai/gpt-5.2-pro", "OpenAI flagship: general purpose, reliable"),
        ],
    ),
    "vision": UseCase(
        "vision",
        [
            ("openai/gpt-4o", "Multimodal: vision, speed"),
            ("openai/gpt-5.2", "Latest GPT: versatile, multimodal"),
            ("google/gemini-2.5-pro", "Images and video alongside long documents"),
            ("anthropic/claude-sonnet-4.5", "Fast and capable, takes images"),
            ("google/gemini-3-flash-preview", "Latest fast: multimodal quick tasks"),
            ("google/gemini-2.5-flash", "Ultra-fast image tasks at high volume"),
        ],
        more_reason="Takes image input",
    ),
    "audio": UseCase(
        "audio",
        [
            ("google/gemini-2.5-flash", "Ultra-fast, takes audio input"),
            ("google/gemini-2.5-pro", "Audio alongside long documents"),
            ("google/gemini-3-flash-preview", "Latest fast: multimodal quick tasks, audio included"),
            ("openai/gpt-4o-audio-preview", "OpenAI's audio-input model"),
        ],
        more_reason="Takes audio input",
    ),
    "long-context": UseCase(
        _long_context,
        [
            ("google/gemini-2.5-pro", "1M context: long documents, video"),
            ("anthropic/claude-sonnet-4.5", "1M context: coding and writing over large inputs"),
            ("google/gemini-2.5-flash", "1M context, ultra-fast"),
            ("google/gemini-3-flash-preview", "1M context, latest fast"),
        ],
        more_reason="Context window of 1M tokens or more",
    ),
    "fast": UseCase(
        None,
        [
            ("google/gemini-2.5-flash", "Ultra-fast: simple tasks, high volume"),
            ("google/gemini-3-flash-preview", "Latest fast: multimodal quick tasks"),
            ("openai/gpt-4o", "Multimodal with low latency"),
        ],
    ),
    "function-calling": UseCase(
        "functions",
        [
            ("anthropic/claude-sonnet-4.5", "Fast and capable: reliable tool use"),
            ("openai/gpt-5.2", "Latest GPT: versatile, with tool calling"),
            ("anthropic/claude-opus-4.5", "Most intelligent Claude: multi-step tool use"),
            ("openai/gpt-4o", "Multimodal with fast tool calling"),
            ("google/gemini-2.5-pro", "Tool calling over long inputs"),
            ("google/gemini-2.5-flash", "Ultra-fast tool calling at high volume"),
        ],
        more_reason="Supports tool calling",
    ),
}
