"""The heaviest calls a user may send, from a process of their own (so the test's own GIL measures nothing).

    python -m tests.heavy_load GATEWAY_URL JWT_SECRET

It builds its bodies first and prints `ready`; 0.3 s later (a stream is under way), twice: the largest audio
upload as JSON (15 MB of WAV, ~20 MB of base64), a 20,000-message conversation and the calculator's worst
expression. Prints one JSON line: each call's status, the tool the calculation ran, and when the last call ended.
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


def main(gateway, secret):
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
    time.sleep(0.3)
    for _ in range(2):
        for name, path, body in calls:
            r = requests.post(f"{gateway}{API}{path}", data=body, headers=auth(name, secret), timeout=60)
            out[name].append(r.status_code)
            if name == "calc":
                out["calc_tool"] = r.json()["executed_tool_calls"][0]["name"]
    out["finished"] = time.time()
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main(*sys.argv[1:3])
