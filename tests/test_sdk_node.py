"""The OpenAI Node SDK (tests/node, installed by `npm ci` there) against the gateway's /responses."""

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import gateway_app, token_for
from tests.servers import serve_app

NODE_DIR = Path(__file__).resolve().parent / "node"


def test_node_openai_responses(upstream):
    node = shutil.which("node")
    assert node, "node is not installed (.ci/run installs nodejs and runs npm ci in tests/node)"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `npm ci` in tests/node (.ci/run does)"
    app = gateway_app(upstream)
    with serve_app(app) as base:
        run = subprocess.run(
            [node, "responses.mjs", f"{base}/api/v2/openrouter", token_for(app)],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "plain": "Mock reply to: Hello from Node",
        "first": "response.created",
        "last": "response.completed",
        "text": "Mock reply to: Hello from Node",
        "refused": {"name": "BadRequestError", "status": 400},
    }
    assert upstream.hits("/responses") == 2
