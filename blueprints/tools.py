"""Function calling: invoke a model with tools, submit the caller's outputs, list the built-ins."""

import time

from flask import Blueprint, current_app, g, jsonify

from blueprints.model_answers import complete
from schemas.common import json_body, validate_input
from schemas.tools import BuiltinToolListSchema, ToolInvokeRequestSchema, ToolRunSchema, ToolSubmitRequestSchema
from services import tool_loop
from services.builtins import BUILTIN_TOOLS
from webapp.auth import require_user
from webapp.composition import current_services
from webapp.openapi import doc
from webapp.quotas import checks_daily_budget, holds_concurrency_slot, tools_quota

bp = Blueprint("tools", __name__)
INVOKE_REQUEST, SUBMIT_REQUEST = ToolInvokeRequestSchema(), ToolSubmitRequestSchema()
ERRORS = (400, 403, 413, 429, 502, 503, 504)


@bp.get("/tools/builtin")
@doc(tags=["tools"], responses={200: BuiltinToolListSchema})
@require_user
def builtin():
    """List the built-in functions the gateway runs itself."""
    return jsonify(object="list", data=BUILTIN_TOOLS)


@bp.post("/tools/invoke")
@doc(tags=["tools"], body=ToolInvokeRequestSchema, responses={200: ToolRunSchema}, errors=ERRORS)
@require_user
@tools_quota
@checks_daily_budget
@holds_concurrency_slot
def invoke():
    """Start a function-calling conversation; built-ins run on the server."""
    body = validate_input(INVOKE_REQUEST, json_body())
    store = current_services().tool_sessions
    session = tool_loop.new_session(g.user, body)
    # A session that cannot be stored (Redis down, the caller's cap reached, too big) must not cost a model call.
    store.check_room(g.user, session)
    result = _run(session, body.get("tool_choice", "auto"))
    session_id = store.create(session)
    return jsonify(tool_loop.answer(session_id, session, result))


@bp.post("/tools/submit")
@doc(tags=["tools"], body=ToolSubmitRequestSchema, responses={200: ToolRunSchema}, errors=(*ERRORS, 404, 409))
@require_user
@tools_quota
@checks_daily_budget
@holds_concurrency_slot
def submit():
    """Submit the outputs of a session's pending calls and continue the conversation."""
    body = validate_input(SUBMIT_REQUEST, json_body())
    store, session_id = current_services().tool_sessions, body["session_id"]
    fingerprint = tool_loop.outputs_fingerprint(body["tool_outputs"])
    session = store.claim(session_id, g.user, fingerprint)
    if "replay" in session:  # these outputs were answered before, but the answer never reached the caller
        return jsonify(session["replay"])
    try:
        tool_loop.add_outputs(session, body["tool_outputs"])
        store.check_size(session)
        result = _run(session, "auto")
    except BaseException:
        store.release(session_id, session)  # unchanged: the caller may submit again
        raise
    return jsonify(
        store.settle(session_id, session, fingerprint, lambda: tool_loop.answer(session_id, session, result))
    )


def _run(session, tool_choice):
    """The loop with this app's model call and this request's deadline."""
    deadline = g.started + current_app.config["OPENROUTER_TIMEOUT"] / 1000
    return tool_loop.run(session, _model_caller(session["options"]), tool_choice, deadline, time.perf_counter)


def _model_caller(options):
    """The loop's model call: the session's chat options with this turn's messages, tools and choice."""

    def call_model(messages, tools, tool_choice):
        body = {**options, "messages": messages, "tools": tools, "tool_choice": tool_choice}
        return complete(body)[1]  # prepare → post_chat → parsed (an error-only body is 502)

    return call_model
