"""Sequential SSE streams over a raw keep-alive socket: time to the first content chunk, and each chunk's lag."""

import re
import socket
import time
from urllib.parse import urlsplit

import orjson

SENT_AT = re.compile(rb'"sent_at":([0-9.]+)')
END = b"0\r\n\r\n"


class StreamClient:
    """One keep-alive connection to one URL; `run()` sends one streamed chat request and times its chunks."""

    def __init__(self, url, token=None, chunks=50, interval_ms=20):
        parts = urlsplit(url)
        self.address, self.path, self.sock = (parts.hostname, parts.port), parts.path, None
        body = orjson.dumps(
            {
                "model": "openai/gpt-4o",
                "stream": True,
                "messages": [{"role": "user", "content": f"chunks={chunks} interval={interval_ms}"}],
            }
        )
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.request = (
            f"POST {self.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    def run(self):
        """{'status', 'first_chunk_s', 'lags_s', 'done'} for one stream."""
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        self.sock.sendall(self.request)
        result = {"status": None, "first_chunk_s": None, "lags_s": [], "done": False}
        self._read(started, result)
        return result

    def _read(self, started, result):
        buffer, head_done = b"", False
        while True:
            data = self.sock.recv(65536)
            now, mono = time.time(), time.perf_counter()
            if not data:
                self.close()
                return
            buffer += data
            if not head_done:
                if b"\r\n\r\n" not in buffer:
                    continue
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                result["status"], head_done = int(head.split(b" ", 2)[1]), True
            buffer = self._events(buffer, now, mono - started, result)
            if result["done"] and buffer.endswith(END) or result["status"] != 200:
                if result["status"] != 200:
                    self.close()
                return

    @staticmethod
    def _events(buffer, now, elapsed, result):
        """Consume the complete events in `buffer`, recording lags; returns the unconsumed rest."""
        end = buffer.rfind(b"\n\n")
        if end < 0:
            return buffer
        complete, rest = buffer[: end + 2], buffer[end + 2 :]
        for sent in SENT_AT.findall(complete):
            if result["first_chunk_s"] is None:
                result["first_chunk_s"] = elapsed
            result["lags_s"].append(now - float(sent))
        if b"data: [DONE]" in complete:
            result["done"] = True
        return rest

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def compare(direct_url, gateway_url, token, count=20, chunks=50, interval_ms=20):
    """`count` streams each way, interleaved (direct, gateway, …): {'direct': [...], 'gateway': [...]}."""
    clients = {
        "direct": StreamClient(direct_url, None, chunks, interval_ms),
        "gateway": StreamClient(gateway_url, token, chunks, interval_ms),
    }
    runs = {name: [] for name in clients}
    try:
        for _ in range(count):
            for name, client in clients.items():
                runs[name].append(client.run())
    finally:
        for client in clients.values():
            client.close()
    return runs
