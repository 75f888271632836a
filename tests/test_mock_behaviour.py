"""The stand-in behaves like a model: tools chosen from the user's words, arguments and JSON answers that fit
their schemas, and /responses, /messages, /embeddings in OpenRouter's wire format with its faults."""

import base64
import json
import struct

import jsonschema
import pytest
import requests

from openrouter_mock import MockOpenRouter, behave

KEY = "sk-or-v1-test"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a place",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
STOCKS = {
    "type": "function",
    "function": {
        "name": "lookup_stock_price",
        "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]},
    },
}
FORECAST = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "hourly": {"type": "array", "items": {"$ref": "#/$defs/Hour"}, "minItems": 2},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["city", "days", "hourly", "note"],
    "additionalProperties": False,
    "$defs": {
        "Hour": {
            "type": "object",
            "properties": {"hour": {"type": "integer", "minimum": 0}, "sky": {"enum": ["clear", "cloudy"]}},
            "required": ["hour", "sky"],
        }
    },
}


@pytest.fixture(scope="module")
def mock():
    with MockOpenRouter(api_key=KEY) as server:
        yield server


def post(mock, path, body):
    return requests.post(f"{mock.url}{path}", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)


def chat(mock, text, **extra):
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}], **extra}
    response = post(mock, "/chat/completions", body)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]


def calls(choice):
    return [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in choice["message"].get("tool_calls") or ()
    ]


def test_a_tool_is_called_when_the_words_fit(mock):
    choice = chat(mock, "What's the weather in Tokyo?", tools=[WEATHER, STOCKS])
    assert choice["finish_reason"] == "tool_calls"
    assert calls(choice) == [("get_weather", {"location": "Tokyo", "unit": "celsius"})]
    jsonschema.validate(calls(choice)[0][1], WEATHER["function"]["parameters"])


def test_no_tool_when_no_words_fit(mock):
    choice = chat(mock, "Tell me a joke", tools=[WEATHER, STOCKS])
    assert (choice["finish_reason"], choice["message"]["content"]) == ("stop", "Mock reply to: Tell me a joke")


def test_tool_choice_forces_and_forbids(mock):
    forced = {"type": "function", "function": {"name": "lookup_stock_price"}}
    assert [
        name
        for name, _ in calls(chat(mock, "What's the weather in Oslo?", tools=[WEATHER, STOCKS], tool_choice=forced))
    ] == ["lookup_stock_price"]
    assert calls(chat(mock, "What's the weather in Oslo?", tools=[WEATHER], tool_choice="none")) == []
    assert [
        name for name, _ in calls(chat(mock, "Tell me a joke", tools=[STOCKS, WEATHER], tool_choice="required"))
    ] == ["lookup_stock_price"]


def test_answers_in_words_once_the_tool_result_is_back(mock):
    first = chat(mock, "What's the weather in Tokyo?", tools=[WEATHER])
    call = first["message"]["tool_calls"][0]
    messages = [
        {"role": "user", "content": "What's the weather in Tokyo?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18°C, sunny"},
    ]
    body = {"model": "openai/gpt-4o", "messages": messages, "tools": [WEATHER]}
    answer = post(mock, "/chat/completions", body).json()["choices"][0]
    assert (answer["finish_reason"], answer["message"]["content"]) == ("stop", "Tool results: 18°C, sunny")


def test_the_readme_example_calls_both_functions(mock):
    from services.builtins import BUILTIN_TOOLS

    city = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": city}}, *BUILTIN_TOOLS]
    choice = chat(mock, "Weather in Paris, and what is 6*7?", tools=tools)
    assert calls(choice) == [("get_weather", {"city": "Paris"}), ("calculate", {"expression": "6*7"})]


def test_json_schema_answer_validates(mock):
    fmt = {"type": "json_schema", "json_schema": {"name": "forecast", "schema": FORECAST, "strict": True}}
    content = chat(mock, "Forecast for Lisbon for 3 days", response_format=fmt)["message"]["content"]
    answer = json.loads(content)
    jsonschema.validate(answer, FORECAST)
    assert (answer["city"], answer["days"], len(answer["hourly"])) == ("Lisbon", 3, 2)


def test_json_object_answer(mock):
    content = chat(mock, "Say hi as JSON", response_format={"type": "json_object"})["message"]["content"]
    assert json.loads(content) == {"answer": "Mock reply to: Say hi as JSON"}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 200, "maxLength": 300},
        {"type": "number", "exclusiveMinimum": 5, "maximum": 9},
        {"type": ["null", "boolean"]},
        {"const": "fixed"},
        {"type": "array", "items": {"type": "integer"}, "minItems": 3},
        {"type": "string", "format": "date-time"},
    ],
)
def test_instances_fit_their_schemas(schema):
    jsonschema.validate(behave.instance(schema, "a 1 b", "x", schema), schema)


def test_responses_wire_format(mock):
    body = {"model": "openai/gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]}
    answer = post(mock, "/responses", body).json()
    assert answer["object"] == "response" and answer["status"] == "completed"
    assert answer["output"][0]["content"][0]["text"] == "Mock reply to: Hi"
    assert set(answer["usage"]) >= {"input_tokens", "output_tokens", "total_tokens", "cost"}
    streamed = post(mock, "/responses", {**body, "stream": True}).text
    events = [e for e in streamed.split("\n\n") if e.startswith("event: ")]
    kinds = [e.split("\n")[0][7:] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    datas = [json.loads(e.split("\ndata: ", 1)[1]) for e in events]
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert all(d["type"] == kind for d, kind in zip(datas, kinds, strict=True))


def test_messages_wire_format_and_faults(mock):
    body = {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
    answer = post(mock, "/messages", body).json()
    assert answer["type"] == "message" and answer["content"] == [{"type": "text", "text": "Mock reply to: Hi"}]
    assert answer["usage"]["input_tokens"] > 0 and answer["stop_reason"] == "end_turn"
    failing = {**body, "messages": [{"role": "user", "content": "Hi [[fault:429]]"}]}
    assert post(mock, "/messages", failing).status_code == 429
    streamed = post(
        mock,
        "/messages",
        {
            **failing,
            "model": "anthropic/claude-sonnet-4.5",
            "messages": [{"role": "user", "content": "x [[fault:stream-error]]"}],
            "stream": True,
        },
    ).text
    assert streamed.rstrip().split("\n\n")[-1].startswith("event: error\ndata: ")


def test_embeddings_are_deterministic_unit_vectors(mock):
    body = {"model": "openai/text-embedding-3-small", "input": ["alpha", "beta"], "dimensions": 32}
    first, second = post(mock, "/embeddings", body).json(), post(mock, "/embeddings", body).json()
    assert first["data"] == second["data"]
    vectors = [item["embedding"] for item in first["data"]]
    assert [len(v) for v in vectors] == [32, 32] and vectors[0] != vectors[1]
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0)
    packed = post(mock, "/embeddings", {**body, "encoding_format": "base64"}).json()["data"][0]["embedding"]
    assert list(struct.unpack("<32f", base64.b64decode(packed))) == pytest.approx(vectors[0], abs=1e-6)
    assert post(mock, "/embeddings", {**body, "model": "mock/fault-502"}).status_code == 502


def test_the_readme_function_calling_example_through_the_gateway(gateway, upstream):
    from tests.conftest import token_for

    client, headers = gateway.test_client(), {"Authorization": f"Bearer {token_for(gateway)}"}
    city = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    invoke = {  # README.md, Function calling, as written there
        "model": "openai/gpt-4o",
        "builtin_tools": ["calculate"],
        "messages": [{"role": "user", "content": "Weather in Paris, and what is 6*7?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": city}}],
    }
    run = client.post("/api/v2/openrouter/tools/invoke", json=invoke, headers=headers).get_json()
    assert (run["status"], run["stop_reason"], run["iterations"]) == ("requires_action", "tool_calls", 1)
    [pending] = run["tool_calls"]
    assert pending["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    [executed] = run["executed_tool_calls"]
    assert (executed["name"], executed["output"]) == ("calculate", {"expression": "6*7", "result": 42})
    outputs = [{"tool_call_id": pending["id"], "output": "18°C, sunny"}]
    done = client.post(
        "/api/v2/openrouter/tools/submit",
        json={"session_id": run["session_id"], "tool_outputs": outputs},
        headers=headers,
    ).get_json()
    assert (done["status"], done["stop_reason"]) == ("completed", "stop")
    assert done["message"]["content"] == 'Tool results: {"expression":"6*7","result":42}; 18°C, sunny'


def test_a_tool_named_by_the_words_wins_over_ones_their_descriptions_fit():
    from services.builtins import BUILTIN_TOOLS

    def named(text):
        return [name for name, _ in behave.choose(BUILTIN_TOOLS, text, "auto")]

    assert named("How many days between two dates?") == ["date_calculate"]
    assert named("Count the words in this text") == ["text_statistics"]
    assert named("Convert 5 miles to km") == ["convert_units"]
    assert named("What is 2**10?") == ["calculate"]
    assert named("Good morning") == []
