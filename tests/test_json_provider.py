"""One JSON provider (orjson) behind every JSON response: jsonify, error bodies, the models and media answers."""

from flask import jsonify

from tests.conftest import make_app
from webapp.json_provider import OrjsonProvider


def test_the_app_uses_the_orjson_provider():
    app = make_app()
    assert isinstance(app.json, OrjsonProvider)


def test_jsonify_keeps_key_order_and_is_compact():
    app = make_app()
    with app.test_request_context():
        response = jsonify({"b": 1, "a": [1, 2], "c": {"z": None, "y": "é"}})
    assert response.mimetype == "application/json"
    assert response.get_data() == '{"b":1,"a":[1,2],"c":{"z":null,"y":"é"}}'.encode()


def test_what_orjson_refuses_still_encodes():
    app = make_app()
    with app.test_request_context():
        response = jsonify({"n": 2**70, 3: "int key"})
    assert response.get_json() == {"n": 2**70, "3": "int key"}


def test_error_bodies_go_through_the_provider():
    response = make_app().test_client().get("/api/v2/openrouter/nowhere")
    assert response.status_code == 404
    body = response.get_data()
    assert body.startswith(b'{"error":{"code":404,"type":"not_found_error","message":')
    assert response.get_json()["error"]["type"] == "not_found_error"
