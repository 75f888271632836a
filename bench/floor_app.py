"""The chosen stack's floor: a bare Flask view forwarding the body with a requests session (no auth, quotas,
checks or logs). `gunicorn -k gthread --threads 32 -w 1 'bench.floor_app:app'` with FLOOR_UPSTREAM set."""

import os

import requests
from flask import Flask, Response, request

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:8081") + "/api/v1/chat/completions"
app = Flask(__name__)
session = requests.Session()
session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))


@app.post("/api/v2/openrouter/chat/completions")
def forward():
    """Forward the body; answer what the upstream answered."""
    upstream = session.post(
        UPSTREAM, data=request.get_data(), headers={"Content-Type": "application/json"}, timeout=(10, 120)
    )
    return Response(upstream.content, status=upstream.status_code, mimetype="application/json")
