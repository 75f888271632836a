"""A lean OpenRouter stand-in for the benchmark: a fixed completion, or SSE whose chunks carry their send time.

The stream's shape comes from the last user message, `chunks=50 interval=20` (the gateway forwards only the body).
"""

import argparse
import asyncio
import re
import socket
import sys
import time

import orjson

GEN_ID = "gen-1764926476-0N0195qHFzGljvYKVijc"
HEAD = {"id": GEN_ID, "provider": "OpenAI", "model": "openai/gpt-4o", "created": 1764926476}
USAGE = {
    "prompt_tokens": 29,
    "completion_tokens": 33,
    "total_tokens": 62,
    "cost": 0.00002415,
    "is_byok": False,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "video_tokens": 0},
    "cost_details": {
        "upstream_inference_cost": None,
        "upstream_inference_prompt_cost": 0.00000435,
        "upstream_inference_completions_cost": 0.0000198,
    },
    "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
}
COMPLETION = orjson.dumps(
    {
        **HEAD,
        "object": "chat.completion",
        "choices": [
            {
                "logprobs": None,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "index": 0,
                "message": {
                    "role": "assistant",
                    "refusal": None,
                    "reasoning": None,
                    "content": "TypeScript enhances JavaScript with static types, which catch many errors "
                    "before the code runs and make large code bases easier to change safely.",
                },
            }
        ],
        "system_fingerprint": "fp_aa07c96156",
        "usage": USAGE,
    }
)
KEY = orjson.dumps(
    {
        "data": {
            "label": "sk-or-v1-ben...nch",
            "limit": None,
            "limit_remaining": None,
            "usage": 0,
            "is_free_tier": False,
            "is_provisioning_key": False,
        }
    }
)
MODELS = orjson.dumps({"data": [{"id": "openai/gpt-4o", "name": "OpenAI: GPT-4o", "context_length": 128000}]})
SHAPE = re.compile(r"chunks=(\d+)\s+interval=(\d+)")
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"X-Generation-Id: " + GEN_ID.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def plain(status, body):
    """A whole keep-alive HTTP/1.1 response with a JSON body."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Generation-Id: {GEN_ID}\r\n\r\n"
    ).encode() + body


ROUTES = {
    (b"POST", b"/api/v1/chat/completions"): plain("200 OK", COMPLETION),
    (b"GET", b"/api/v1/key"): plain("200 OK", KEY),
    (b"GET", b"/api/v1/auth/key"): plain("200 OK", KEY),
    (b"GET", b"/api/v1/models"): plain("200 OK", MODELS),
}
NOT_FOUND = plain("404 Not Found", b'{"error":{"code":404,"message":"Not found"}}')


def chunk(delta=None, finish=None, usage=None, **extra):
    """One SSE event framed as one HTTP chunk."""
    event = {**HEAD, "object": "chat.completion.chunk", **extra}
    if usage is None:
        event["choices"] = [
            {
                "index": 0,
                "delta": delta or {"role": "assistant", "content": ""},
                "finish_reason": finish,
                "native_finish_reason": finish,
                "logprobs": None,
            }
        ]
    else:
        event["choices"], event["usage"] = [], usage
    return frame(b"data: " + orjson.dumps(event) + b"\n\n")


def frame(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


DELAY = re.compile(rb"delay=(\d+)")


def stream_shape(body):
    """(chunks, interval in s) when the body asks for a stream, else None."""
    if body.get("stream") is not True:
        return None
    messages = [m for m in body.get("messages") or () if isinstance(m, dict) and m.get("role") == "user"]
    found = SHAPE.search(str(messages[-1].get("content"))) if messages else None
    return (int(found[1]), int(found[2]) / 1000) if found else (10, 0.02)


class Http(asyncio.Protocol):
    """One keep-alive connection: requests answered in order, one at a time (no pipelining needed)."""

    def connection_made(self, transport):
        self.transport, self.buffer, self.task = transport, b"", None
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            length = content_length(head)
            if len(self.buffer) < end + 4 + length:
                return
            body, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
            self.answer(head, body)

    def answer(self, head, body):
        method, path = head.split(b" ", 2)[:2]
        path = path.split(b"?", 1)[0]
        shape = stream_shape(orjson.loads(body)) if method == b"POST" and body else None
        delay = DELAY.search(body) if shape is None and b"delay=" in body else None
        if delay:  # a slow model: the answer after `delay=<ms>`
            self.task = asyncio.get_running_loop().create_task(self.later(int(delay[1]) / 1000, method, path))
        elif shape is None:
            self.transport.write(ROUTES.get((method, path), NOT_FOUND))
        else:
            self.task = asyncio.get_running_loop().create_task(self.stream(*shape))

    async def later(self, seconds, method, path):
        await asyncio.sleep(seconds)
        if not self.transport.is_closing():
            self.transport.write(ROUTES.get((method, path), NOT_FOUND))
        self.task = None

    async def stream(self, chunks, interval):
        write = self.transport.write
        write(SSE_HEAD + chunk())
        for index in range(chunks):
            if index:
                await asyncio.sleep(interval)
            write(chunk({"role": "assistant", "content": f"word{index} "}, sent_at=time.time()))
        write(chunk(finish="stop") + chunk(usage=USAGE) + frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        self.task = None


def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def serve(port):
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", port, backlog=1024)
    print(f"upstream listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
