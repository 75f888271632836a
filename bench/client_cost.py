"""What one upstream call costs the gateway's CPU: urllib3 alone, plain requests, and the gateway's client.

Runs sequential non-streamed calls against bench/fast_upstream.py and prints µs of this process's CPU per call
(the upstream runs in its own process, so its work is not counted).
"""

import argparse
import sys
import time
from pathlib import Path

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from upstream.client import OpenRouterClient  # noqa: E402

BODY = b'{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}'
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-or-v1-bench"}


def cpu_per_call(call, calls):
    for _ in range(50):  # warm the pool
        call()
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True, help="base URL of fast_upstream.py")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    url = f"{args.upstream}/api/v1/chat/completions"
    pool = urllib3.PoolManager(maxsize=4)
    session = requests.Session()
    client = OpenRouterClient(
        {
            "OPENROUTER_BASE_URL": f"{args.upstream}/api/v1",
            "OPENROUTER_API_KEY": "sk-or-v1-bench",
            "OPENROUTER_CONNECT_TIMEOUT": 10000,
            "OPENROUTER_TIMEOUT": 120000,
            "OPENROUTER_SITE_URL": None,
            "OPENROUTER_SITE_NAME": None,
        }
    )
    timeout = urllib3.Timeout(connect=10, read=120)
    ways = {
        "urllib3 PoolManager.request": lambda: pool.request("POST", url, body=BODY, headers=HEADERS, timeout=timeout),
        "requests Session.post (defaults)": lambda: session.post(url, data=BODY, headers=HEADERS, timeout=(10, 120)),
        "gateway client (prepared parts, Session.send)": lambda: client.post_chat(BODY),
    }
    for name, call in ways.items():
        print(f"{name:46s} {cpu_per_call(call, args.calls):7.0f} µs CPU per call")


if __name__ == "__main__":
    main()
