"""A real OpenID provider for tests: the npm package oidc-provider, run by node from tests/node."""

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.servers import free_port, wait_http

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE = shutil.which("node")


def require_node():
    """Skip, visibly, where node or the installed package is absent (.ci/run installs both)."""
    if NODE is None:
        pytest.skip("node is not installed: the OpenID provider tests need it (.ci/run installs it)")
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("tests/node/node_modules is missing: run `npm ci` in tests/node (.ci/run does)")


def private_jwk(kid, kind="RSA"):
    """A private signing JWK with this kid (RSA 2048 or EC P-256), as the provider's key file holds it."""
    if kind == "RSA":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(key))
        jwk["alg"] = "RS256"
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(key))
        jwk["alg"] = "ES256"
    return {**jwk, "kid": kid, "use": "sig"}, key


class Provider:
    """One oidc-provider process on a loopback port; `restart` swaps its keys (key rotation)."""

    def __init__(self, tmp_path, keys, port=None, env=None):
        self.tmp_path, self.port, self.env = tmp_path, port or free_port(), env or {}
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.proc, self.generation = None, 0
        self.start(keys)

    def start(self, keys):
        self.generation += 1
        keys_file = self.tmp_path / f"oidc-keys-{self.generation}.json"
        keys_file.write_text(json.dumps({"keys": keys}))
        log = open(self.tmp_path / f"oidc-{self.generation}.log", "wb")  # noqa: SIM115
        env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "NODE_NO_WARNINGS": "1", **self.env}
        self.proc = subprocess.Popen(
            [NODE, "oidc_server.js", str(self.port), str(keys_file)], cwd=NODE_DIR, env=env, stdout=log, stderr=log
        )
        log.close()
        wait_http(self.issuer + "/_stats", proc=self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def restart(self, keys):
        """The same issuer and port with another key set; the provider's counters start again at 0."""
        self.stop()
        self.start(keys)

    def stats(self):
        return requests.get(self.issuer + "/_stats", timeout=5).json()

    def token(self, client="team-app"):
        """An access token (a JWT) by client credentials."""
        response = requests.post(
            self.issuer + "/token", data={"grant_type": "client_credentials"}, auth=(client, "secret"), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@contextlib.contextmanager
def run_provider(tmp_path, keys, **kwargs):
    require_node()
    provider = Provider(tmp_path, keys, **kwargs)
    try:
        yield provider
    finally:
        provider.stop()
