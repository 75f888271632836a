"""gunicorn settings: `gunicorn -c gunicorn.conf.py` alone starts the gateway."""

import os
import shutil
import tempfile

from config import Config, read_environment

_env = read_environment()  # the environment over .env, as for the app's own settings
_cfg = Config(_env)

wsgi_app = "app:create_app()"
# gthread: a model call may take minutes and a stream holds its thread; a sync worker would be killed
# by its timeout mid-call, and one stream would pin the whole worker.
worker_class = "gthread"
threads = int(_env.get("GUNICORN_THREADS") or "32")
# In-memory quotas and tool sessions are per process: several workers only with Redis behind them.
workers = int(_env.get("WEB_CONCURRENCY") or os.cpu_count() or 1) if _cfg.REDIS_URL else 1
bind = _env.get("BIND") or f"0.0.0.0:{_env.get('PORT') or '8000'}"
# A deploy waits for running calls to finish rather than cutting them.
_upstream_s = _cfg.OPENROUTER_TIMEOUT / 1000
graceful_timeout = int(_upstream_s) + 10
timeout = max(30, int(_upstream_s) + 10)
# Longer than a load balancer's idle timeout (nginx and ALB use 60 s), so the proxy closes first.
keepalive = 75
accesslog = None  # the app writes one structured line per request itself
errorlog = "-"
loglevel = (_env.get("LOG_LEVEL") or "info").lower()  # the app alone turns verbose in development
forwarded_allow_ips = "*"  # ProxyFix with TRUSTED_PROXIES decides which hops are believed
# Several gateways (tests, benchmarks, blue/green) share a host: no shared control socket in $HOME.
control_socket_disable = True

# prometheus-client multiprocess mode: each worker writes its metrics to files in this directory, and
# /metrics adds them up. It must be set before any worker imports prometheus_client.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")


def on_starting(server):
    """Start from empty metric files (a restart must not add up a previous run's counters)."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (streams in flight)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
