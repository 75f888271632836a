"""Both sides of the stall test, each in a process of its own (so no thread of the test's measures anything).

python -m tests.heavy_load heavy GATEWAY_URL JWT_SECRET
    Builds the heaviest bodies a user may send, prints `ready`, waits for a line on stdin, then sends, twice:
    the largest audio upload as JSON (15 MB of WAV, ~20 MB of base64), a 20,000-message conversation and the
    calculator's worst expression. Prints one JSON line: each call's status, the tool the calculation ran,
    and when the last call ended (time.time()).
python -m tests.heavy_load stream GATEWAY_URL JWT_SECRET CHUNKS
    Opens a stream of CHUNKS events 20 ms apart, prints `open` at its first event, then at its end one JSON
    line: the arrival time (time.time()) of each data event, and whether it ended with [DONE].
"""

import base64
import os
import sys
import time

import jwt
import orjson
import requests

API = "/api/v2/openrouter"


def auth(sub, secret):
    token = jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def heavy(gateway, secret):
    wav = b"RIFF" + b"\0\0\0\0" + b"WAVE" + os.urandom(15 * 1024 * 1024 - 12)
    audio = orjson.dumps({"audio": {"data": base64.b64encode(wav).decode(), "format": "wav"}})
    worst = "+".join(["7**3560"] * 124)  # a full-length expression of powers at the size cap
    ask = f'[[call:calculate:{{"expression":"{worst}"}}]]'
    calculation = orjson.dumps({"messages": [{"role": "user", "content": ask}], "builtin_tools": True})
    turns = [{"role": ("user", "assistant")[i % 2], "content": "hello there " * 10} for i in range(20_000)]
    conversation = orjson.dumps({"model": "openai/gpt-4o", "messages": turns})
    calls = (("audio", "/audio", audio), ("chat", "/chat/completions", conversation))
    calls += (("calc", "/tools/invoke", calculation),)
    out = {name: [] for name, _, _ in calls}
    print("ready", flush=True)  # the bodies are built: nothing CPU-heavy of ours runs beside the stream now
    sys.stdin.readline()
    for _ in range(2):
        for name, path, body in calls:
            r = requests.post(f"{gateway}{API}{path}", data=body, headers=auth(name, secret), timeout=60)
            out[name].append(r.status_code)
            if name == "calc":
                out["calc_tool"] = r.json()["executed_tool_calls"][0]["name"]
    out["finished"] = time.time()
    print(orjson.dumps(out).decode())


def stream(gateway, secret, chunks):
    body = {"messages": [{"role": "user", "content": f"go [[chunks:{chunks}]] [[interval_ms:20]]"}]}
    arrivals, raw = [], b""
    with requests.post(f"{gateway}{API}/chat/stream", json=body, headers=auth("streamer", secret), stream=True) as r:
        for piece in r.iter_content(chunk_size=None):
            now = time.time()
            if not arrivals and b"data:" in piece:
                print("open", flush=True)
            arrivals += [now] * piece.count(b"data:")
            raw += piece
    print(orjson.dumps({"arrivals": arrivals, "done": raw.endswith(b"data: [DONE]\n\n")}).decode())


if __name__ == "__main__":
    {"heavy": heavy, "stream": stream}[sys.argv[1]](*sys.argv[2:])
