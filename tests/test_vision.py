"""POST /vision: JSON URLs and data URLs, multipart uploads, refusals before any upstream call, limits, streams."""

import io

import orjson
import pytest

from tests.conftest import (
    GIF,
    JPEG,
    PNG,
    TEXT,
    WAV,
    WEBP,
    assert_body_limit,
    assert_error,
    assert_json_and_multipart_documented,
    assert_refused,
    assert_stream,
    b64,
    bearer,
    encoded_form,
    gateway_app,
    named_cases,
    padded,
)

URL = "/api/v2/openrouter/vision"
CHAT = "/chat/completions"
ANSWER_KEYS = {"id", "model", "provider", "content", "finish_reason", "usage"}
PNG_URL = "data:image/png;base64," + b64(PNG)


def sent_messages(upstream):
    return upstream.last(CHAT).body["messages"]


def image_part(url, detail="auto"):
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


# --- accepted input reaches OpenRouter as content parts -------------------------------------------------


def test_urls_and_data_urls_become_image_parts(api, alice, upstream):
    response = api.post(
        URL,
        headers=alice,
        json={
            "prompt": "What is in these?",
            "system": "Answer briefly.",
            "max_tokens": 50,
            "temperature": 0.5,
            "images": [
                {"url": "https://example.com/cat.png"},
                {"url": PNG_URL, "detail": "low"},
                {"url": "http://example.com/dog.jpg?size=large", "detail": "high"},
            ],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert set(answer) == ANSWER_KEYS
    assert answer["model"] == "openai/gpt-4o" and answer["content"] == "Mock reply to: What is in these?"
    assert answer["finish_reason"] == "stop" and answer["usage"]["total_tokens"] > 0
    assert response.headers["X-Generation-Id"] == answer["id"]
    body = upstream.last(CHAT).body
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("openai/gpt-4o", 50, 0.5)
    assert "stream" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                image_part("https://example.com/cat.png"),
                image_part(PNG_URL, "low"),
                image_part("http://example.com/dog.jpg?size=large", "high"),
            ],
        },
    ]
    assert upstream.hits(CHAT) == 1 and all("example.com" not in r.path for r in upstream.requests)


@pytest.mark.parametrize("kind,data", [("png", PNG), ("jpeg", JPEG), ("gif", GIF), ("webp", WEBP)])
def test_every_image_type_as_data_url(api, alice, upstream, kind, data):
    url = f"data:image/{kind};base64,{b64(data)}"
    response = api.post(URL, headers=alice, json={"prompt": "Describe", "images": [{"url": url}]})
    assert response.status_code == 200
    assert sent_messages(upstream)[0]["content"][1] == image_part(url)


def test_multipart_uploads_become_data_urls(api, alice, upstream):
    # The media type comes from the bytes: the part's file name and Content-Type are not trusted.
    response = api.post(
        URL,
        headers=alice,
        content_type="multipart/form-data",
        data={
            "prompt": "Compare them",
            "detail": "high",
            "model": "google/gemini-2.5-flash",
            "system": "Be terse.",
            "max_tokens": "20",
            "temperature": "0.3",
            "image": [(io.BytesIO(PNG), "a.png", "image/png"), (io.BytesIO(JPEG), "b.png", "image/png")],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) == ANSWER_KEYS
    body = upstream.last(CHAT).body
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("google/gemini-2.5-flash", 20, 0.3)
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare them"},
                image_part(PNG_URL, "high"),
                image_part("data:image/jpeg;base64," + b64(JPEG), "high"),
            ],
        },
    ]


def test_default_model_is_configurable(upstream):
    app = gateway_app(upstream, OPENROUTER_VISION_MODEL="anthropic/claude-sonnet-4.5")
    response = app.test_client().post(URL, headers=bearer(app), json={"prompt": "Hi", "images": [{"url": PNG_URL}]})
    assert response.status_code == 200
    assert upstream.last(CHAT).body["model"] == "anthropic/claude-sonnet-4.5"


def test_upstream_error_is_mapped(api, alice, upstream):
    response = api.post(URL, headers=alice, json={"prompt": "[[fault:500]]", "images": [{"url": PNG_URL}]})
    assert_error(response, 502, "upstream_error")


# --- refusals, all before any call to OpenRouter ----------------------------------------------------------


def url_of(url):
    return {"prompt": "Describe", "images": [{"url": url}]}


REFUSED_JSON = [
    ("bad base64", url_of("data:image/png;base64,@@@notbase64@@@"), "images.0.url", "not valid base64"),
    (
        "contradicted type",
        url_of("data:image/jpeg;base64," + b64(PNG)),
        "images.0.url",
        "declares image/jpeg but its bytes are image/png",
    ),
    ("not an image", url_of("data:image/png;base64," + b64(TEXT)), "images.0.url", "not a supported image"),
    ("audio as image", url_of("data:image/png;base64," + b64(WAV)), "images.0.url", "not a supported image"),
    ("svg", url_of("data:image/svg+xml;base64," + b64(b"<svg/>")), "images.0.url", "not an accepted image URL"),
    ("file scheme", url_of("file:///etc/passwd"), "images.0.url", "not an accepted image URL"),
    ("ftp scheme", url_of("ftp://example.com/cat.png"), "images.0.url", "not an accepted image URL"),
    ("javascript scheme", url_of("javascript:alert(1)"), "images.0.url", "not an accepted image URL"),
    ("no host", url_of("https:///cat.png"), "images.0.url", "has no host"),
    ("no images", {"prompt": "Describe", "images": []}, "images", "Length must be between 1 and 10"),
    (
        "eleven images",
        {"prompt": "Describe", "images": [{"url": PNG_URL}] * 11},
        "images",
        "Length must be between 1 and 10",
    ),
    ("images missing", {"prompt": "Describe"}, "images", "Missing data"),
    ("images not a list", {"prompt": "Describe", "images": PNG_URL}, "images", "Not a valid list"),
    (
        "bad detail",
        {"prompt": "Describe", "images": [{"url": PNG_URL, "detail": "ultra"}]},
        "images.0.detail",
        "Must be one of",
    ),
    ("url missing", {"prompt": "Describe", "images": [{"detail": "low"}]}, "images.0.url", "Missing data"),
    ("prompt missing", {"images": [{"url": PNG_URL}]}, "prompt", "Missing data"),
    ("prompt empty", {"prompt": "", "images": [{"url": PNG_URL}]}, "prompt", "Shorter than minimum length 1"),
    ("max_tokens 0", {**url_of(PNG_URL), "max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
    ("max_tokens string", {**url_of(PNG_URL), "max_tokens": "5"}, "max_tokens", "Not a valid integer"),
    ("temperature 2.5", {**url_of(PNG_URL), "temperature": 2.5}, "temperature", "less than or equal to 2"),
    ("temperature string", {**url_of(PNG_URL), "temperature": "1"}, "temperature", "Not a valid number"),
    ("stream string", {**url_of(PNG_URL), "stream": "yes"}, "stream", "Not a valid boolean"),
    ("bad model id", {**url_of(PNG_URL), "model": "gpt 4o"}, "model", "Not a model id"),
    ("unknown field", {**url_of(PNG_URL), "messages": []}, "messages", "Unknown field"),
]


@named_cases("payload,field,message", REFUSED_JSON)
def test_refused_json(api, alice, upstream, payload, field, message):
    assert_refused(api.post(URL, headers=alice, json=payload), upstream, message, field)


@pytest.mark.parametrize(
    "model,message",
    [
        ("openai/gpt-4o-audio-preview", "Model openai/gpt-4o-audio-preview does not accept image input"),
        ("acme/no-such-model", "Model acme/no-such-model is not in the model catalogue"),
    ],
)
def test_model_without_image_input_is_refused(api, alice, upstream, model, message):
    response = api.post(URL, headers=alice, json={**url_of(PNG_URL), "model": model})
    error = assert_error(response, 400, "invalid_request_error", message)
    assert "models that accept image input: " in error["message"]
    assert "openai/gpt-4o," in error["message"] and "google/gemini-2.5-flash" in error["message"]
    assert "gpt-4o-audio-preview," not in error["message"]
    assert error["details"] == {"model": ["Must be a model that accepts image input."]}
    assert upstream.hits(CHAT) == 0


def form(**fields):
    return {"prompt": "Describe", "image": [(io.BytesIO(PNG), "a.png")], **fields}


REFUSED_FORM = [
    ("no file", {"prompt": "Describe"}, "image", "Missing data"),
    ("text instead of file", {"prompt": "Describe", "image": "cat.png"}, "image", "Must be sent as a file"),
    ("not an image", form(image=[(io.BytesIO(TEXT), "a.png")]), "image.0", "not a supported image"),
    (
        "second not an image",
        form(image=[(io.BytesIO(PNG), "a.png"), (io.BytesIO(WAV), "b.png")]),
        "image.1",
        "not a supported image",
    ),
    ("empty file", form(image=[(io.BytesIO(b""), "a.png")]), "image.0", "image.0 is empty"),
    (
        "eleven files",
        form(image=[(io.BytesIO(PNG), f"{i}.png") for i in range(11)]),
        "image",
        "between 1 and 10 files; got 11",
    ),
    ("bad detail", form(detail="ultra"), "detail", "Must be one of"),
    ("prompt missing", {"image": [(io.BytesIO(PNG), "a.png")]}, "prompt", "Missing data"),
    ("max_tokens 0", form(max_tokens="0"), "max_tokens", "greater than or equal to 1"),
    ("max_tokens not a number", form(max_tokens="many"), "max_tokens", "Not a valid integer"),
    ("temperature 3", form(temperature="3"), "temperature", "less than or equal to 2"),
    ("stream not a boolean", form(stream="maybe"), "stream", "Not a valid boolean"),
    ("unknown field", form(images="x"), "images", "Unknown field"),
    ("unknown file", form(photo=(io.BytesIO(PNG), "p.png")), "photo", "Unknown field"),
]


@named_cases("fields,field,message", REFUSED_FORM)
def test_refused_multipart(api, alice, upstream, fields, field, message):
    response = api.post(URL, headers=alice, data=fields, content_type="multipart/form-data")
    assert_refused(response, upstream, message, field)


@pytest.mark.parametrize(
    "body,content_type,message",
    [
        (
            b"prompt=hi",
            "application/x-www-form-urlencoded",
            "as JSON ('Content-Type: application/json') or as multipart",
        ),
        (b"hello", "text/plain", "or as multipart/form-data"),
        (b"", None, "or as multipart/form-data"),
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "must be a JSON object"),
        (b"garbage", "multipart/form-data; boundary=xyz", "multipart/form-data body is malformed"),
        (
            b'--xyz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi',
            "multipart/form-data; boundary=xyz",
            "multipart/form-data body is malformed",
        ),
        (b"--xyz--\r\n", "multipart/form-data", "malformed: Missing boundary"),
    ],
)
def test_unreadable_bodies(api, alice, upstream, body, content_type, message):
    error = assert_refused(api.post(URL, headers=alice, data=body, content_type=content_type), upstream, message)
    assert "details" not in error


def test_token_required(api, upstream):
    assert_error(api.post(URL, json=url_of(PNG_URL)), 401, "authentication_error")
    assert_error(api.post(URL, data=form(), content_type="multipart/form-data"), 401, "authentication_error")
    assert upstream.hits(CHAT) == 0


# --- size limits ----------------------------------------------------------------------------------------

LIMIT = 2000


def test_image_size_limit_json(upstream):
    app = gateway_app(upstream, MAX_IMAGE_BYTES=LIMIT)
    api, alice = app.test_client(), bearer(app)
    at_limit = api.post(URL, headers=alice, json=url_of("data:image/png;base64," + b64(padded(PNG, LIMIT))))
    assert at_limit.status_code == 200
    over = api.post(URL, headers=alice, json=url_of("data:image/png;base64," + b64(padded(PNG, LIMIT + 1))))
    error = assert_error(over, 413, "request_too_large", f"the limit is {LIMIT} bytes")
    assert list(error["details"]) == ["images.0.url"]
    assert upstream.hits(CHAT) == 1


def test_image_size_limit_multipart(upstream):
    app = gateway_app(upstream, MAX_IMAGE_BYTES=LIMIT)
    api, alice = app.test_client(), bearer(app)
    at_limit = api.post(URL, headers=alice, data=form(image=(io.BytesIO(padded(PNG, LIMIT)), "a.png")))
    assert at_limit.status_code == 200
    assert sent_messages(upstream)[0]["content"][1] == image_part("data:image/png;base64," + b64(padded(PNG, LIMIT)))
    over = api.post(URL, headers=alice, data=form(image=(io.BytesIO(padded(PNG, LIMIT + 1)), "a.png")))
    error = assert_error(over, 413, "request_too_large", f"image.0 is {LIMIT + 1} bytes; the limit is {LIMIT}")
    assert list(error["details"]) == ["image.0"]
    assert upstream.hits(CHAT) == 1


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_body_size_limit(upstream, kind):
    if kind == "json":
        body, content_type = orjson.dumps(url_of(PNG_URL)), "application/json"
    else:
        body, content_type = encoded_form(form())
    assert_body_limit(upstream, URL, body, content_type)


def test_multipart_text_field_and_part_limits(upstream):
    app = gateway_app(upstream, MAX_IMAGE_BYTES=LIMIT)
    api, alice = app.test_client(), bearer(app)
    long_prompt = "x" * (app.config["MAX_FORM_MEMORY_SIZE"] + 1)
    assert_error(api.post(URL, headers=alice, data=form(prompt=long_prompt)), 413, "request_too_large")
    many = form(**{f"extra{i}": "x" for i in range(app.config["MAX_FORM_PARTS"])})
    assert_error(api.post(URL, headers=alice, data=many), 413, "request_too_large")
    assert upstream.hits(CHAT) == 0


def test_default_limits_let_a_large_image_through(upstream):
    """With the shipped limits, a 20 MiB image passes as a JSON data URL and as an upload."""
    app = gateway_app(upstream)
    api, alice = app.test_client(), bearer(app)
    image = padded(PNG, app.config["MAX_IMAGE_BYTES"])
    assert api.post(URL, headers=alice, json=url_of("data:image/png;base64," + b64(image))).status_code == 200
    assert api.post(URL, headers=alice, data=form(image=(io.BytesIO(image), "big.png"))).status_code == 200


# --- streams, quotas, documentation ---------------------------------------------------------------------


def test_stream_json_and_multipart(api, alice, upstream):
    with api.post(URL, headers=alice, json={**url_of(PNG_URL), "stream": True}) as response:
        assert assert_stream(response) == "Mock reply to: Describe"
    assert upstream.last(CHAT).body["stream"] is True
    with api.post(URL, headers=alice, data=form(stream="true")) as response:
        assert_stream(response)
    assert upstream.hits(CHAT) == 2


def test_vision_bucket(upstream):
    app = gateway_app(upstream, RATELIMIT_VISION="2/minute")
    api, alice = app.test_client(), bearer(app)
    assert api.post(URL, headers=alice, json=url_of(PNG_URL)).status_code == 200
    with api.post(URL, headers=alice, json={**url_of(PNG_URL), "stream": True}) as streamed:
        assert streamed.status_code == 200
    assert_error(api.post(URL, headers=alice, json=url_of(PNG_URL)), 429, "rate_limit_error", "2 per 1 minute")
    assert api.post(URL, headers=bearer(app, "bob"), json=url_of(PNG_URL)).status_code == 200
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert api.post("/api/v2/openrouter/chat/completions", headers=alice, json=chat).status_code == 200
    assert upstream.hits(CHAT) == 4


def test_openapi_documents_both_content_types(client):
    operation = assert_json_and_multipart_documented(client, URL)
    assert {"400", "401", "413", "429"} <= set(operation["responses"])
