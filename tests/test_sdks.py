"""The real clients against the gateway over a socket: openai-python, langchain-openai, anthropic."""

import anthropic
import jsonschema
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.conftest import gateway_app, token_for
from tests.servers import serve_app

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a place",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}


@pytest.fixture
def served(upstream):
    """(gateway base URL ending in /api/v2/openrouter, a token, the stand-in)."""
    app = gateway_app(upstream)
    with serve_app(app) as base:
        yield f"{base}/api/v2/openrouter", token_for(app), upstream


def openai_client(served):
    base, token, _ = served
    return openai.OpenAI(base_url=base, api_key=token, max_retries=0)


def anthropic_client(served, api_key=None):
    base, token, _ = served
    return anthropic.Anthropic(base_url=base, api_key=api_key or token, max_retries=0)


# ------------------------------------------------------------------------------------------------ openai-python
def test_openai_chat_with_fields_the_gateway_does_not_know(served):
    completion = openai_client(served).chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        n=1,
        store=False,
        safety_identifier="user-123",
    )
    assert completion.choices[0].message.content == "Mock reply to: Hi"
    sent = served[2].last("/chat/completions").body
    assert (sent["n"], sent["store"], sent["safety_identifier"]) == (1, False, "user-123")


def test_openai_responses_plain_and_streamed(served):
    client = openai_client(served)
    response = client.responses.create(model="openai/gpt-4o", input="Hello", instructions="Be brief")
    assert response.output_text == "Mock reply to: Hello"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    events = list(client.responses.create(model="openai/gpt-4o", input="Hello", stream=True))
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == "Mock reply to: Hello" == events[-1].response.output_text
    with client.responses.stream(model="openai/gpt-4o", input="Streamed helper") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Mock reply to: Streamed helper" == final.output_text


def test_openai_responses_tool_call_round_trip(served):
    client = openai_client(served)
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    first = client.responses.create(model="openai/gpt-4o", input="What is the weather in Tokyo?", tools=[tool])
    call = first.output[0]
    assert (call.type, call.name, call.arguments) == ("function_call", "get_weather", '{"location":"Tokyo"}')
    follow_up = [
        {"role": "user", "content": "What is the weather in Tokyo?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18°C, sunny"},
    ]
    second = client.responses.create(model="openai/gpt-4o", input=follow_up, tools=[tool])
    assert second.output_text == "Tool results: 18°C, sunny"


def test_openai_responses_store_true_is_a_bad_request(served):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(served).responses.create(model="openai/gpt-4o", input="Hi", store=True)
    assert "stateless" in caught.value.message
    assert served[2].hits("/responses") == 0


def test_openai_embeddings(served):
    client = openai_client(served)
    result = client.embeddings.create(model="openai/text-embedding-3-small", input=["one", "two"], dimensions=16)
    assert [len(item.embedding) for item in result.data] == [16, 16]
    assert served[2].last("/embeddings").body["encoding_format"] == "base64"  # the SDK's default, decoded by it
    again = client.embeddings.create(model="openai/text-embedding-3-small", input="one", dimensions=16)
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)
    assert result.usage.prompt_tokens > 0


# ---------------------------------------------------------------------------------------------- langchain-openai
def chat_model(served, **kwargs):
    base, token, _ = served
    return ChatOpenAI(model="openai/gpt-4o", base_url=base, api_key=token, max_retries=0, **kwargs)


def test_langchain_chat_with_n(served):
    assert chat_model(served, n=1).invoke("Hello").content == "Mock reply to: Hello"


def test_langchain_bind_tools(served):
    reply = chat_model(served).bind_tools([WEATHER]).invoke("What is the weather in Tokyo?")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("get_weather", {"location": "Tokyo"})]


class Forecast(BaseModel):
    city: str
    temperature_c: float
    sunny: bool


def test_langchain_with_structured_output(served):
    forecast = chat_model(served).with_structured_output(Forecast).invoke("Forecast for Tokyo at 21 degrees")
    assert isinstance(forecast, Forecast)
    assert (forecast.city, forecast.temperature_c) == ("Tokyo", 21.0)
    sent = served[2].last("/chat/completions").body
    jsonschema.validate(forecast.model_dump(), sent["response_format"]["json_schema"]["schema"])


# ------------------------------------------------------------------------------------------------------ anthropic
def test_anthropic_messages_plain_and_streamed(served):
    client = anthropic_client(served)
    message = client.messages.create(
        model="anthropic/claude-sonnet-4.5", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    )
    assert message.content[0].text == "Mock reply to: Hello" and message.stop_reason == "end_turn"
    record = served[2].last("/messages")
    assert record.headers["anthropic-version"] and "x-api-key" not in {k.lower() for k in record.headers}
    events = list(
        client.messages.create(
            model="anthropic/claude-sonnet-4.5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Hello"}],
            stream=True,
        )
    )
    assert [e.type for e in events][0] == "message_start" and events[-1].type == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == "Mock reply to: Hello"


def test_anthropic_messages_stream_helper(served):
    with anthropic_client(served).messages.stream(
        model="anthropic/claude-sonnet-4.5", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Mock reply to: Hello" == final.content[0].text
    assert final.usage.output_tokens > 1


def test_anthropic_tool_use_round_trip(served):
    client = anthropic_client(served)
    tools = [
        {"name": "get_weather", "description": "Weather for a place", "input_schema": WEATHER["function"]["parameters"]}
    ]
    question = {"role": "user", "content": "What is the weather in Tokyo?"}
    first = client.messages.create(
        model="anthropic/claude-sonnet-4.5", max_tokens=100, messages=[question], tools=tools
    )
    use = first.content[0]
    assert (first.stop_reason, use.type, use.name, use.input) == (
        "tool_use",
        "tool_use",
        "get_weather",
        {"location": "Tokyo"},
    )
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18°C, sunny"}]}
    second = client.messages.create(
        model="anthropic/claude-sonnet-4.5",
        max_tokens=100,
        tools=tools,
        messages=[question, {"role": "assistant", "content": first.content}, result],
    )
    assert second.content[0].text == "Tool results: 18°C, sunny"


def test_anthropic_auth_failure(served):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic_client(served, api_key="not-a-jwt").messages.create(
            model="anthropic/claude-sonnet-4.5", max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "authentication_error"


def test_anthropic_bad_request_and_rate_limit_classes(upstream):
    app = gateway_app(upstream, RATELIMIT_CHAT="1/minute")
    with serve_app(app) as base:
        client = anthropic.Anthropic(base_url=f"{base}/api/v2/openrouter", api_key=token_for(app), max_retries=0)
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(model="anthropic/claude-sonnet-4.5", max_tokens=0, messages=[])
        client.messages.create(
            model="anthropic/claude-sonnet-4.5", max_tokens=10, messages=[{"role": "user", "content": "a"}]
        )
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(
                model="anthropic/claude-sonnet-4.5", max_tokens=10, messages=[{"role": "user", "content": "b"}]
            )
