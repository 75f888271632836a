"""Redis as production runs it: an ACL user with a password, `requirepass`, and TLS (`rediss://`)."""

import contextlib
import datetime
import ipaddress
import shutil
import subprocess
import time

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import MOCK_KEY, assert_error, make_app, token_for
from tests.servers import free_port

API = "/api/v2/openrouter"
PASSWORD = "acl-password-0123456789"
# The ACL of deploy/README.md: the gateway's own keys, no admin or dangerous commands.
ACL = f"user default off\nuser gateway on >{PASSWORD} ~gw:* +@all -@dangerous\n"


@contextlib.contextmanager
def redis_server(tmp_path, config, probe_url, **probe):
    """redis-server with `config` (text of redis.conf); waits until `probe_url` answers PING."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (.ci/run installs it from Debian's packages)"
    conf = tmp_path / "redis.conf"
    conf.write_text(f'bind 127.0.0.1\nsave ""\nappendonly no\ndir {tmp_path}\n{config}')
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis.from_url(probe_url, socket_timeout=0.5, **probe)
    deadline = time.monotonic() + 10
    while True:
        assert proc.poll() is None, "redis-server exited"
        try:
            if client.ping():
                break
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    try:
        yield
    finally:
        client.close()
        proc.kill()
        proc.wait(5)


def certificates(directory):
    """A CA and a server certificate for 127.0.0.1 it signed; returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, public_key, signing_key, ca, san=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway test CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    host = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = build(host, ca_name, key.public_key(), ca_key, False, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    paths = directory / "ca.pem", directory / "redis.pem", directory / "redis.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    paths[2].write_bytes(pem)
    return paths


def exercise(url, upstream):
    """Quotas, the slot, usage and a tool session through a Redis at `url`."""
    app = make_app(
        REDIS_URL=url, OPENROUTER_BASE_URL=upstream.url, OPENROUTER_API_KEY=MOCK_KEY, RATELIMIT_CHAT="2/minute"
    )
    client, headers = app.test_client(), {"Authorization": f"Bearer {token_for(app, 'prod-shape')}"}
    body = {"messages": [{"role": "user", "content": "hi"}]}
    statuses = [client.post(f"{API}/chat/completions", json=body, headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get(f"{API}/usage?days=1", headers=headers).get_json()["totals"]["requests"] == 2
    tools = {"model": "openai/gpt-4o", "builtin_tools": True, "messages": body["messages"], "auto_execute": False}
    assert client.post(f"{API}/tools/invoke", json=tools, headers=headers).status_code == 200
    health = client.get(f"{API}/health").get_json()
    assert health["checks"]["session_store"] == {"status": "ok", "backend": "redis"}
    return app


def test_an_acl_user_with_a_password(tmp_path, upstream):
    port = free_port()
    url = f"redis://gateway:{PASSWORD}@127.0.0.1:{port}/0"
    with redis_server(tmp_path, f"port {port}\n{ACL}", url):
        exercise(url, upstream)
        wrong = make_app(REDIS_URL=f"redis://gateway:wrong-password@127.0.0.1:{port}/0")
        response = wrong.test_client().post(
            f"{API}/_test/quota", headers={"Authorization": f"Bearer {token_for(wrong)}"}
        )
        error = assert_error(response, 503, "service_unavailable", "Redis")
        assert "wrong-password" not in str(error)


def test_requirepass(tmp_path, upstream):
    port = free_port()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    with redis_server(tmp_path, f"port {port}\nrequirepass {PASSWORD}\n", url):
        exercise(url, upstream)


def test_tls_with_an_acl_user(tmp_path, upstream):
    ca, cert, key = certificates(tmp_path)
    port = free_port()
    config = f"port 0\ntls-port {port}\ntls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {ca}\n"
    config += f"tls-auth-clients no\n{ACL}"
    url = f"rediss://gateway:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    with redis_server(tmp_path, config, url):
        exercise(url, upstream)
        # Plain text to the TLS port, or a certificate nobody vouches for: a quick 503, never a hang.
        for bad in (
            f"redis://gateway:{PASSWORD}@127.0.0.1:{port}/0",
            f"rediss://gateway:{PASSWORD}@127.0.0.1:{port}/0",
        ):
            app = make_app(REDIS_URL=bad)
            started = time.monotonic()
            response = app.test_client().post(
                f"{API}/_test/quota", headers={"Authorization": f"Bearer {token_for(app)}"}
            )
            assert_error(response, 503, "service_unavailable")
            assert time.monotonic() - started < 2


@pytest.mark.parametrize("greenlets", [200])
def test_the_pool_bounds_connections_per_worker(greenlets, tmp_path):
    """Many concurrent callers share at most REDIS_MAX_CONNECTIONS sockets (threads stand in for greenlets)."""
    from concurrent.futures import ThreadPoolExecutor

    from services.redis_state import make_redis

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(tmp_path, f"port {port}\n", url):
        admin = redis.Redis.from_url(url)
        before = len(admin.client_list())  # the admin's own and the start-up probe's
        client = make_redis(url, max_connections=4)
        with ThreadPoolExecutor(32) as pool:
            assert sum(pool.map(lambda i: client.incr("gw:count"), range(greenlets))) > 0
        assert int(client.get("gw:count")) == greenlets
        assert before < len(admin.client_list()) <= before + 4
