"""Debian's nginx, started by the tests with deploy/nginx.conf: foreground, temp prefix, free port, own logs."""

import contextlib
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.servers import ROOT, free_port

DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
MAIN = """daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/gateway.conf;
}}
"""


def nginx_binary():
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert binary, "nginx is not installed (.ci/run installs Debian's nginx-light)"
    return binary


def render(upstreams, port, prefix):
    """deploy/nginx.conf as shipped, with the test's gateways, port and log path put in."""
    text = DEPLOY_CONF.read_text()
    servers = "".join(f"    server {address} max_fails=3 fail_timeout=10s;\n" for address in upstreams)
    text, count = re.subn(r"(    server 10\.0\.0\.\d+:8000[^\n]*\n)+", servers, text)
    assert count == 1, "deploy/nginx.conf's upstream block changed shape"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("/var/log/nginx/gateway.access.log", f"{prefix}/access.log")
    return text


@contextlib.contextmanager
def run_nginx(upstreams, prefix):
    """nginx in front of `upstreams` ("host:port" strings); yields (base URL, prefix directory)."""
    prefix = Path(prefix)
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (prefix / "gateway.conf").write_text(render(upstreams, port, prefix))
    (prefix / "nginx.conf").write_text(MAIN.format(prefix=prefix))
    command = [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        assert proc.poll() is None, (prefix / "error.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", prefix
    finally:
        proc.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
