"""The gateway's own time (X-Gateway-Overhead-Ms, upstream wait excluded) for chat beside /responses, /messages
and /embeddings, plain and streamed, through the real gunicorn against the bundled stand-in.

Not part of `make bench` (that one needs a fast upstream speaking every API); run it on its own:
    .venv/bin/python bench/inference_routes.py [--calls 200]
Bounded: `calls` requests per route and mode, then it stops.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import jwt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openrouter_mock import MockOpenRouter  # noqa: E402
from tests.servers import run_gunicorn  # noqa: E402

SECRET, KEY = "bench-" + "s" * 40, "sk-or-v1-bench"
HI = [{"role": "user", "content": "hi"}]
ROUTES = {
    "/chat/completions": {"model": "openai/gpt-4o", "messages": HI},
    "/responses": {"model": "openai/gpt-4o", "input": "hi"},
    "/messages": {"model": "anthropic/claude-sonnet-4.5", "max_tokens": 50, "messages": HI},
    "/embeddings": {"input": "hi", "dimensions": 64},
}
HIGH = "1000000/minute"


def measure(session, url, body, calls):
    """Median and p95 of the gateway's overhead header, and the median round trip, in ms (warm-up dropped)."""
    overhead, round_trip = [], []
    for _ in range(calls + 20):
        started = time.perf_counter()
        response = session.post(url, json=body)
        _ = response.content  # the whole answer, streams to their end
        assert response.status_code == 200, response.text
        round_trip.append((time.perf_counter() - started) * 1000)
        overhead.append(float(response.headers["X-Gateway-Overhead-Ms"]))
    overhead, round_trip = sorted(overhead[20:]), round_trip[20:]
    return statistics.median(overhead), overhead[int(0.95 * len(overhead))], statistics.median(round_trip)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    env = {"GATEWAY_ENV": "production", "JWT_SECRET_KEY": SECRET, "OPENROUTER_API_KEY": KEY, "REDIS_URL": ""}
    env.update(RATELIMIT_CHAT=HIGH, RATELIMIT_STREAMING=HIGH, RATELIMIT_EMBEDDINGS=HIGH, LOG_LEVEL="WARNING")
    with MockOpenRouter(api_key=KEY) as mock, run_gunicorn({**env, "OPENROUTER_BASE_URL": mock.url}) as (base, _):
        session = requests.Session()
        token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
        session.headers["Authorization"] = f"Bearer {token}"
        print(
            "| route | streamed | overhead p50 (ms) | overhead p95 (ms) | round trip p50 (ms) |\n|---|---|---|---|---|"
        )
        for stream in (False, True):
            for path, body in ROUTES.items():
                if stream and path == "/embeddings":
                    continue
                sent = {**body, "stream": True} if stream else body
                p50, p95, trip = measure(session, f"{base}/api/v2/openrouter{path}", sent, calls)
                print(f"| `{path}` | {'yes' if stream else 'no'} | {p50:.2f} | {p95:.2f} | {trip:.2f} |")


if __name__ == "__main__":
    main()
