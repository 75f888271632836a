"""POST /audio: JSON base64 and multipart uploads, tasks and prompts, refusals before any upstream call, limits."""

import io

import orjson
import pytest

from services.media_requests import TASK_PROMPTS
from tests.conftest import (
    AUDIO,
    PNG,
    TEXT,
    WAV,
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
    token_for,
)

URL = "/api/v2/openrouter/audio"
CHAT = "/chat/completions"
ANSWER_KEYS = {"id", "model", "provider", "content", "finish_reason", "usage"}


def clip(data=WAV, fmt="wav", **fields):
    return {"audio": {"data": b64(data), "format": fmt}, **fields}


def upload(data=WAV, name="clip.wav", **fields):
    return {"audio": (io.BytesIO(data), name), **fields}


def audio_content(text, data=WAV, fmt="wav"):
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "input_audio", "input_audio": {"data": b64(data), "format": fmt}},
            ],
        }
    ]


# --- accepted input reaches OpenRouter as content parts -------------------------------------------------


def test_json_clip_is_transcribed_by_default(api, alice, upstream):
    response = api.post(URL, headers=alice, json=clip(max_tokens=100, temperature=0))
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert set(answer) == ANSWER_KEYS
    assert answer["model"] == "google/gemini-2.5-flash" and answer["finish_reason"] == "stop"
    assert answer["content"] == "Mock reply to: " + TASK_PROMPTS["transcribe"]
    body = upstream.last(CHAT).body
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("google/gemini-2.5-flash", 100, 0)
    assert body["messages"] == audio_content(TASK_PROMPTS["transcribe"])


@pytest.mark.parametrize("fmt,data", AUDIO)
def test_every_format_json(api, alice, upstream, fmt, data):
    assert api.post(URL, headers=alice, json=clip(data, fmt)).status_code == 200
    assert upstream.last(CHAT).body["messages"] == audio_content(TASK_PROMPTS["transcribe"], data, fmt)


@pytest.mark.parametrize("fmt,data", AUDIO)
def test_every_format_multipart_from_bytes(api, alice, upstream, fmt, data):
    # No declared format and a misleading file name: the bytes decide.
    response = api.post(URL, headers=alice, data=upload(data, "clip.bin"), content_type="multipart/form-data")
    assert response.status_code == 200
    assert upstream.last(CHAT).body["messages"] == audio_content(TASK_PROMPTS["transcribe"], data, fmt)


@pytest.mark.parametrize("task", ["transcribe", "translate", "summarize", "analyze"])
def test_tasks_have_their_prompts(api, alice, upstream, task):
    assert api.post(URL, headers=alice, json=clip(task=task)).status_code == 200
    assert upstream.last(CHAT).body["messages"] == audio_content(TASK_PROMPTS[task])
    assert len(set(TASK_PROMPTS.values())) == 4 and "into English" in TASK_PROMPTS["translate"]


def test_prompt_replaces_the_task_prompt(api, alice, upstream):
    payload = clip(task="translate", prompt="Translate this into French.")
    assert api.post(URL, headers=alice, json=payload).status_code == 200
    assert upstream.last(CHAT).body["messages"] == audio_content("Translate this into French.")


def test_multipart_with_fields(api, alice, upstream):
    fields = upload(
        format="wav", task="summarize", model="openai/gpt-4o-audio-preview", max_tokens="30", temperature="1.5"
    )
    response = api.post(URL, headers=alice, data=fields, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) == ANSWER_KEYS
    body = upstream.last(CHAT).body
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("openai/gpt-4o-audio-preview", 30, 1.5)
    assert body["messages"] == audio_content(TASK_PROMPTS["summarize"])


def test_default_model_is_configurable(upstream):
    app = gateway_app(upstream, OPENROUTER_AUDIO_MODEL="mistralai/voxtral-small-24b-2507")
    assert app.test_client().post(URL, headers=bearer(app), json=clip()).status_code == 200
    assert upstream.last(CHAT).body["model"] == "mistralai/voxtral-small-24b-2507"


# --- refusals, all before any call to OpenRouter ----------------------------------------------------------

REFUSED_JSON = [
    (
        "data: prefix",
        {"audio": {"data": "data:audio/wav;base64," + b64(WAV), "format": "wav"}},
        "audio.data",
        "raw base64 without a 'data:' prefix",
    ),
    ("bad base64", {"audio": {"data": "!!!" + b64(WAV), "format": "wav"}}, "audio.data", "not valid base64"),
    ("wav declared as mp3", clip(WAV, "mp3"), "audio.format", "declares mp3 but the bytes of audio.data are wav"),
    ("unknown format", clip(WAV, "wma"), "audio.format", "'wma' is not supported; supported: wav, mp3"),
    ("not audio", clip(TEXT, "wav"), "audio.data", "not a supported audio file"),
    ("image as audio", clip(PNG, "wav"), "audio.data", "not a supported audio file"),
    ("empty audio", {"audio": {"data": "", "format": "wav"}}, "audio.data", "audio.data is empty"),
    ("format missing", {"audio": {"data": b64(WAV)}}, "audio.format", "Missing data"),
    ("audio missing", {"task": "transcribe"}, "audio", "Missing data"),
    ("audio as string", {"audio": b64(WAV)}, "audio", "Invalid input type"),
    ("bad task", clip(task="sing"), "task", "Must be one of: transcribe, translate, summarize, analyze"),
    ("empty prompt", clip(prompt=""), "prompt", "Shorter than minimum length 1"),
    ("max_tokens 0", clip(max_tokens=0), "max_tokens", "greater than or equal to 1"),
    ("temperature -1", clip(temperature=-1), "temperature", "greater than or equal to 0"),
    ("stream 1", clip(stream=1), "stream", "Not a valid boolean"),
    ("unknown field", clip(system="be nice"), "system", "Unknown field"),
]


@named_cases("payload,field,message", REFUSED_JSON)
def test_refused_json(api, alice, upstream, payload, field, message):
    assert_refused(api.post(URL, headers=alice, json=payload), upstream, message, field)


@pytest.mark.parametrize(
    "model,message",
    [
        ("openai/gpt-4o", "Model openai/gpt-4o does not accept audio input"),
        ("acme/no-such-model", "Model acme/no-such-model is not in the model catalogue"),
    ],
)
def test_model_without_audio_input_is_refused(api, alice, upstream, model, message):
    for response in (
        api.post(URL, headers=alice, json=clip(model=model)),
        api.post(URL, headers=alice, data=upload(model=model), content_type="multipart/form-data"),
    ):
        error = assert_error(response, 400, "invalid_request_error", message)
        assert error["message"].endswith(
            "models that accept audio input: google/gemini-2.5-pro, google/gemini-2.5-flash, "
            "google/gemini-3-flash-preview, openai/gpt-4o-audio-preview, mistralai/voxtral-small-24b-2507"
        )
        assert error["details"] == {"model": ["Must be a model that accepts audio input."]}
    assert upstream.hits(CHAT) == 0


REFUSED_FORM = [
    ("no file", {"task": "transcribe"}, "audio", "Missing data"),
    ("text instead of file", {"audio": b64(WAV)}, "audio", "Must be sent as a file"),
    (
        "two files",
        {"audio": [(io.BytesIO(WAV), "a.wav"), (io.BytesIO(WAV), "b.wav")]},
        "audio",
        "Send exactly one file; got 2",
    ),
    ("empty file", upload(b""), "audio", "audio is empty"),
    ("not audio", upload(TEXT), "audio", "not a supported audio file"),
    ("wav declared as mp3", upload(format="mp3"), "format", "format declares mp3 but the bytes of audio are wav"),
    ("unknown format", upload(format="wma"), "format", "format 'wma' is not supported"),
    ("bad task", upload(task="sing"), "task", "Must be one of"),
    ("max_tokens 0", upload(max_tokens="0"), "max_tokens", "greater than or equal to 1"),
    ("temperature nan", upload(temperature="nan"), "temperature", "Not a valid number"),
    ("unknown field", upload(detail="high"), "detail", "Unknown field"),
]


@named_cases("fields,field,message", REFUSED_FORM)
def test_refused_multipart(api, alice, upstream, fields, field, message):
    response = api.post(URL, headers=alice, data=fields, content_type="multipart/form-data")
    assert_refused(response, upstream, message, field)


@pytest.mark.parametrize(
    "body,content_type,message",
    [
        (b"audio=x", "application/x-www-form-urlencoded", "or as multipart/form-data"),
        (b"RIFF", "audio/wav", "or as multipart/form-data"),
        (b"{", "application/json", "not valid JSON"),
        (
            b'--b\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\nRIFF',
            "multipart/form-data; boundary=b",
            "multipart/form-data body is malformed",
        ),
    ],
)
def test_unreadable_bodies(api, alice, upstream, body, content_type, message):
    assert_refused(api.post(URL, headers=alice, data=body, content_type=content_type), upstream, message)


def test_token_required(api, upstream):
    assert_error(api.post(URL, json=clip()), 401, "authentication_error")
    assert upstream.hits(CHAT) == 0


# --- size limits ----------------------------------------------------------------------------------------

LIMIT = 3000


def test_audio_size_limit_json(upstream):
    app = gateway_app(upstream, MAX_AUDIO_BYTES=LIMIT)
    api, alice = app.test_client(), bearer(app)
    assert api.post(URL, headers=alice, json=clip(padded(WAV, LIMIT))).status_code == 200
    error = assert_error(
        api.post(URL, headers=alice, json=clip(padded(WAV, LIMIT + 1))),
        413,
        "request_too_large",
        f"the limit is {LIMIT} bytes",
    )
    assert list(error["details"]) == ["audio.data"]
    assert upstream.hits(CHAT) == 1


def test_audio_size_limit_multipart(upstream):
    app = gateway_app(upstream, MAX_AUDIO_BYTES=LIMIT)
    api, alice = app.test_client(), bearer(app)
    assert api.post(URL, headers=alice, data=upload(padded(WAV, LIMIT))).status_code == 200
    assert upstream.last(CHAT).body["messages"] == audio_content(TASK_PROMPTS["transcribe"], padded(WAV, LIMIT))
    over = api.post(URL, headers=alice, data=upload(padded(WAV, LIMIT + 1)))
    error = assert_error(over, 413, "request_too_large", f"audio is {LIMIT + 1} bytes; the limit is {LIMIT}")
    assert list(error["details"]) == ["audio"]
    assert upstream.hits(CHAT) == 1


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_body_size_limit(upstream, kind):
    if kind == "json":
        body, content_type = orjson.dumps(clip()), "application/json"
    else:
        body, content_type = encoded_form(upload())
    assert_body_limit(upstream, URL, body, content_type)


def test_default_limits_let_a_large_clip_through(upstream):
    """With the shipped limits, a 15 MiB clip passes as JSON base64 and as an upload."""
    app = gateway_app(upstream)
    api, alice = app.test_client(), bearer(app)
    data = padded(WAV, app.config["MAX_AUDIO_BYTES"])
    assert api.post(URL, headers=alice, json=clip(data)).status_code == 200
    assert api.post(URL, headers=alice, data=upload(data)).status_code == 200


# --- streams, quotas, documentation ---------------------------------------------------------------------


def test_stream_json_and_multipart(api, alice, upstream):
    with api.post(URL, headers=alice, json=clip(stream=True, prompt="Say hi")) as response:
        assert assert_stream(response) == "Mock reply to: Say hi"
    assert upstream.last(CHAT).body["stream"] is True
    with api.post(URL, headers=alice, data=upload(stream="true")) as response:
        assert_stream(response)
    assert upstream.hits(CHAT) == 2


def test_audio_bucket(upstream):
    app = gateway_app(upstream, RATELIMIT_AUDIO="2/minute")
    api, alice = app.test_client(), bearer(app)
    assert api.post(URL, headers=alice, json=clip()).status_code == 200
    with api.post(URL, headers=alice, json=clip(stream=True)) as streamed:
        assert streamed.status_code == 200
    assert_error(api.post(URL, headers=alice, json=clip()), 429, "rate_limit_error", "2 per 1 minute")
    assert api.post(URL, headers={"Authorization": f"Bearer {token_for(app, 'bob')}"}, json=clip()).status_code == 200
    image = {"prompt": "Hi", "images": [{"url": "https://example.com/a.png"}]}
    assert api.post("/api/v2/openrouter/vision", headers=alice, json=image).status_code == 200
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert api.post("/api/v2/openrouter/chat/completions", headers=alice, json=chat).status_code == 200
    assert upstream.hits(CHAT) == 5


def test_openapi_documents_both_content_types(client):
    assert_json_and_multipart_documented(client, URL)
