"""Added latency of a JWKS-verified RS256 token beside HS256, in process (issue 13).

`.venv/bin/python bench/jwks_auth.py [N]`: N requests (default 500) to an authenticated route that does no other
work, each token new (full verification) and then one token repeated (the verified-token cache). The JWKS is
served on loopback and fetched once. Prints the median per request in microseconds.
"""

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt as pyjwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from tests.conftest import make_app  # noqa: E402
from tests.servers import serve_app  # noqa: E402

URL = "/api/v2/openrouter/tools/builtin"


def median_us(app, tokens):
    client, times = app.test_client(), []
    for token in tokens:
        started = time.perf_counter()
        response = client.get(URL, headers={"Authorization": f"Bearer {token}"})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)
    return statistics.median(times) * 1e6


def main(n):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": "bench"}

    def jwks(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"keys": [jwk]}).encode()]

    with serve_app(jwks) as base:
        hs_app = make_app(RATELIMIT_ENABLED=False)
        rs_app = make_app(JWT_SECRET_KEY=None, JWT_JWKS_URL=base + "/jwks", RATELIMIT_ENABLED=False)
        exp = int(time.time()) + 3600
        secret = hs_app.config["JWT_SECRET_KEY"]
        hs = [pyjwt.encode({"sub": f"u{i}", "exp": exp}, secret, algorithm="HS256") for i in range(n + 1)]
        rs = [pyjwt.encode({"sub": f"u{i}", "exp": exp}, key, "RS256", headers={"kid": "bench"}) for i in range(n + 1)]
        median_us(rs_app, rs[:1])  # the one JWKS fetch
        rows = [
            ("every token new", median_us(hs_app, hs[1:]), median_us(rs_app, rs[1:])),
            ("one token repeated", median_us(hs_app, [hs[0]] * n), median_us(rs_app, [rs[0]] * n)),
        ]
    print(f"{'requests':<20}{'HS256 us':>10}{'RS256+JWKS us':>15}{'added us':>10}")
    for name, hs_us, rs_us in rows:
        print(f"{name:<20}{hs_us:>10.0f}{rs_us:>15.0f}{rs_us - hs_us:>10.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
