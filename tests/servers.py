"""Real servers for tests that cross the network: the app in-process, gunicorn, and Redis."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc, grace):
    """SIGTERM, then SIGKILL if the process has not exited within `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def serve_app(app):
    """The app on a threaded werkzeug server on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def wait_http(url, timeout=20.0, proc=None):
    """Poll until `url` answers (any status); fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.ReadTimeout):
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def run_gunicorn(env, log_path=None):
    """`gunicorn -c gunicorn.conf.py` with `env` added, on a free port; yields (base URL, process)."""
    port = free_port()
    full_env = {**os.environ, "BIND": f"127.0.0.1:{port}", **env}
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [str(gunicorn), "-c", "gunicorn.conf.py"], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/v2/openrouter/health/live", proc=proc)
        yield base, proc
    finally:
        stop(proc, 15)
        if log_path:
            log.close()


@contextlib.contextmanager
def run_redis(port=None):
    """A private redis-server on a free port; yields (url, process). Fails (never skips) when missing."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (.ci/run installs it from Debian's packages)"
    port = port or free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.02)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.kill()  # SIGKILL also ends a process stopped with SIGSTOP
        proc.wait(5)
