"""CPU per relayed SSE event: the relay over an in-memory upstream of typical content chunks (no sockets)."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from upstream.streaming import relay  # noqa: E402

CHUNK = (
    b'data: {"id":"gen-1764926476-0N0195qHFzGljvYKVijc","provider":"OpenAI","model":"openai/gpt-4o",'
    b'"object":"chat.completion.chunk","created":1764926476,"choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"word "},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}\n\n'
)


class Upstream:
    chunked = False

    def __init__(self, events):
        self.pieces = iter([CHUNK] * events + [b"data: [DONE]\n\n"])

    def read1(self, size):
        return next(self.pieces, b"")

    def close(self):
        pass

    def release_conn(self):
        pass

    connection = None


def main(events=100_000):
    started = time.process_time()
    for _ in relay(Upstream(events), "bench", on_data=lambda chunk: None):
        pass
    print(f"relay: {(time.process_time() - started) / events * 1e6:.2f} µs CPU per event (read, split, check)")


if __name__ == "__main__":
    main()
