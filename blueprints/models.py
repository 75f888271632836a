"""The model catalogue: list with filters, one model by id, recommendations by use case."""

from flask import Blueprint, current_app, request

from core.errors import NotFoundError
from schemas.models import ModelListQuerySchema, ModelListSchema, ModelSchema, RecommendationsSchema, list_filters
from services.catalogue import USE_CASES
from webapp.auth import require_user
from webapp.composition import current_services
from webapp.openapi import doc

bp = Blueprint("models", __name__)


def _openai_model(model):
    """The catalogue's model plus the two fields OpenAI's `Model` requires that OpenRouter's object lacks."""
    return {**model, "object": "model", "owned_by": model["id"].lstrip("~").split("/", 1)[0]}


def _json(body):
    """A JSON response from the catalogue's plain dicts (the full list is a few hundred models)."""
    return current_app.json.response(body)


@bp.get("/models")
@doc(tags=["models"], query=ModelListQuerySchema, responses={200: ModelListSchema}, errors=(400,))
@require_user
def list_models():
    """List models, premium first; unknown query parameters are ignored."""
    catalogue = current_services().catalogue
    models = catalogue.filter(catalogue.models(), **list_filters(request.args))
    return _json({"object": "list", "data": [_openai_model(model) for model in models]})


# `/models/recommended/<use_case>` outranks this rule (more static parts), and no model id starts with it.
@bp.get("/models/<path:model_id>")
@doc(tags=["models"], responses={200: ModelSchema}, errors=(404,))
@require_user
def get_model(model_id):
    """Get one model by its full id (`author/slug[:variant]`, `~author/alias`, `openrouter/auto`)."""
    catalogue = current_services().catalogue
    model = catalogue.get(model_id)
    if model is None:
        # Before any live copy only the built-in premium models are known: say so rather than mislead.
        builtin_only = catalogue.source == "builtin"
        hint = " (OpenRouter's model list is unavailable; only premium models are known)" if builtin_only else ""
        raise NotFoundError(f"Model '{model_id}' does not exist{hint}")
    return _json(_openai_model(model))


@bp.get("/models/recommended/<use_case>")
@doc(tags=["models"], responses={200: RecommendationsSchema}, errors=(404,))
@require_user
def recommended_models(use_case):
    """Recommended models for a use case, premium first, each with a reason."""
    if use_case not in USE_CASES:
        valid = ", ".join(USE_CASES)
        raise NotFoundError(
            f"Unknown use case '{use_case}'; valid use cases: {valid}",
            details={"use_case": [f"Must be one of: {valid}."]},
        )
    models = current_services().catalogue.recommend(use_case)
    return _json({"use_case": use_case, "models": [_openai_model(model) for model in models]})
