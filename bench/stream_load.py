"""Load generator for "streams sustained": N concurrent SSE streams, starts spread over a window, one process.

Prints one JSON line: per stream, the first event's delay after the request was sent and the largest gap
between two events (seconds), or an error. `bench/capacity.py` runs one of these per core.
"""

import argparse
import asyncio
import random
import sys
import time
from urllib.parse import urlsplit

import orjson


async def one_stream(url, token, chunks, interval_ms, start_at):
    parts = urlsplit(url)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    body = orjson.dumps(
        {
            "model": "openai/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": f"chunks={chunks} interval={interval_ms}"}],
        }
    )
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\n{auth}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    except OSError as exc:
        return {"error": f"connect: {exc}"}
    sent = time.monotonic()
    writer.write(head + body)
    first, last, gap, events, done = None, None, 0.0, 0, False
    try:
        while data := await asyncio.wait_for(reader.read(65536), 60):
            now = time.monotonic()
            count = data.count(b'"content":"word')
            if count:
                if first is None:
                    first = now - sent
                elif last is not None:
                    gap = max(gap, now - last)
                last, events = now, events + count
            if b"data: [DONE]" in data:
                done = True
                break
    except (TimeoutError, OSError) as exc:
        return {"error": f"read: {exc!r}"}
    finally:
        writer.close()
    if not done or events != chunks:
        return {"error": f"{events}/{chunks} events, [DONE] {done}"}
    return {"first_s": first, "max_gap_s": gap}


async def run(url, token, streams, chunks, interval_ms, spread_s):
    begin = time.monotonic() + 0.2
    starts = sorted(begin + random.uniform(0, spread_s) for _ in range(streams))
    return await asyncio.gather(*(one_stream(url, token, chunks, interval_ms, at) for at in starts))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--token", default="")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--interval-ms", type=int, default=20)
    parser.add_argument("--spread-s", type=float, default=2.0)
    args = parser.parse_args()
    cpu = time.process_time()
    results = asyncio.run(run(args.url, args.token, args.streams, args.chunks, args.interval_ms, args.spread_s))
    print(orjson.dumps({"streams": results, "cpu_s": time.process_time() - cpu}).decode())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
