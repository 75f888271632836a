"""Every layer's errors in the one envelope: bodies, routing, sizes, crashes, request ids."""

import logging

import pytest

from tests.conftest import assert_error, make_app

ECHO = "/api/v2/openrouter/_test/echo"


@pytest.mark.parametrize(
    "data, content_type, message",
    [
        ("{not json", "application/json", "Request body is not valid JSON"),
        ("", "application/json", "Request body is not valid JSON"),
        ("[1, 2]", "application/json", "Request body must be a JSON object"),
        ('"text"', "application/json", "Request body must be a JSON object"),
        ('{"name": "x"}', "text/plain", "Content-Type: application/json"),
        ("name=x", "application/x-www-form-urlencoded", "Content-Type: application/json"),
        ('{"name": "x"}', None, "Content-Type: application/json"),
    ],
)
def test_bad_bodies(client, auth_headers, data, content_type, message):
    headers = dict(auth_headers)
    if content_type:
        headers["Content-Type"] = content_type
    assert_error(client.post(ECHO, data=data, headers=headers), 400, "invalid_request_error", message)


def test_validation_details_are_keyed_by_dotted_path(client, auth_headers):
    response = client.post(ECHO, json={"items": [{"n": 1}, {"n": "x"}], "extra": 1}, headers=auth_headers)
    error = assert_error(response, 400, "invalid_request_error")
    assert error["details"] == {
        "name": ["Missing data for required field."],
        "items.1.n": ["Not a valid integer."],
        "extra": ["Unknown field."],
    }
    assert error["message"] == "name: Missing data for required field."


def test_valid_body_passes(client, auth_headers):
    response = client.post(ECHO, json={"name": "x", "items": [{"n": 1}]}, headers=auth_headers)
    assert response.status_code == 200
    assert response.get_json() == {"name": "x", "items": [{"n": 1}]}


def test_json_content_type_with_charset_is_json(client, auth_headers):
    headers = {**auth_headers, "Content-Type": "application/json; charset=utf-8"}
    assert client.post(ECHO, data='{"name": "x"}', headers=headers).status_code == 200


def test_unknown_route_is_404(client):
    assert_error(client.get("/api/v2/openrouter/nowhere"), 404, "not_found_error")
    assert_error(client.get("/"), 404, "not_found_error")


def test_wrong_method_is_405_with_allow(client):
    response = client.get(ECHO)
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_body_over_max_content_length_is_413(auth_headers):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    response = client.post(
        ECHO, data='{"name": "' + "x" * 2000 + '"}', headers={**auth_headers, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "request_too_large")


def test_crash_is_500_without_traceback_and_logged(client, caplog):
    with caplog.at_level(logging.ERROR, logger="gateway"):
        response = client.get("/api/v2/openrouter/_test/crash")
    error = assert_error(response, 500, "internal_error")
    assert "Traceback" not in response.get_data(as_text=True)
    assert "secret internals" not in error["message"]
    assert any(r.exc_info and r.request_id == error["request_id"] for r in caplog.records)


@pytest.mark.parametrize(
    "given, kept",
    [
        ("abc-123_x.y:z", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ("<script>", False),
        ("", False),
    ],
)
def test_request_id_echoed_or_replaced(client, given, kept):
    response = client.get("/api/v2/openrouter/health/live", headers={"X-Request-ID": given})
    rid = response.headers["X-Request-ID"]
    if kept:
        assert rid == given
    else:
        assert rid != given and len(rid) == 32


def test_request_id_on_errors_matches_header(client):
    response = client.get("/api/v2/openrouter/missing", headers={"X-Request-ID": "trace-1"})
    assert response.headers["X-Request-ID"] == "trace-1"
    assert response.get_json()["error"]["request_id"] == "trace-1"


def test_chunked_body_over_the_limit_is_413_not_a_cut_off_body(auth_headers):
    import io

    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    body = b'{"name": "' + b"x" * 5000 + b'"}'
    chunked = {**auth_headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    # As gunicorn does for a chunked upload: no Content-Length, the input ends where the body ends.
    environ = {"wsgi.input_terminated": True}
    response = client.post(ECHO, input_stream=io.BytesIO(body), headers=chunked, environ_base=environ)
    assert_error(response, 413, "request_too_large")
    small = client.post(ECHO, input_stream=io.BytesIO(b'{"name": "x"}'), headers=chunked, environ_base=environ)
    assert small.status_code == 200 and small.get_json() == {"name": "x"}


def test_no_cookie_session_is_kept_or_set(client, auth_headers):
    """The API keeps no state in cookies: one shared, empty, read-only session; no Set-Cookie, no Vary: Cookie."""
    from flask import session
    from flask.sessions import NullSession

    response = client.get("/api/v2/openrouter/models", headers=auth_headers)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    with client.application.test_request_context():
        assert isinstance(session, NullSession) and dict(session) == {}
        with pytest.raises(RuntimeError):
            session["user"] = "someone"
