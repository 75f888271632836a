"""gunicorn settings: `gunicorn -c gunicorn.conf.py` alone starts the gateway.

This file runs in the master before any worker exists, and a gevent worker must monkey-patch the standard
library before anything that holds sockets, locks or SSL contexts is imported: so only `core.config` (os, secrets,
dotenv) is imported here, never the app, requests, urllib3 or redis. `preload_app` stays off for the same
reason: each worker loads the app after it has patched.
"""

import gc
import glob
import os
import shutil
import tempfile

from core.config import Config, read_environment

_env = read_environment()  # the environment over .env, as for the app's own settings
_cfg = Config(_env)

wsgi_app = "app:create_app()"
# gevent: a model call waits seconds to minutes on OpenRouter and a stream holds its connection for as long;
# one gevent worker holds thousands of them, where a thread per call (gthread) queues the 33rd caller.
# The app stays plain synchronous Flask. GUNICORN_WORKER_CLASS=gthread brings back threads.
_worker = (_env.get("GUNICORN_WORKER_CLASS") or "gevent").strip()
if _worker == "gevent":
    worker_class = "server.gevent_worker.GatewayWorker"  # gunicorn's gevent worker plus slow-client and shutdown care
    worker_connections = _cfg.GUNICORN_WORKER_CONNECTIONS
else:
    worker_class = _worker
    threads = int(_env.get("GUNICORN_THREADS") or "32")
# In-memory quotas and tool sessions are per process: several workers only with Redis behind them.
workers = int(_env.get("WEB_CONCURRENCY") or os.cpu_count() or 1) if _cfg.REDIS_URL else 1
bind = _env.get("BIND") or f"0.0.0.0:{_env.get('PORT') or '8000'}"
# A deploy waits for running calls to finish rather than cutting them; streams still running at the end
# are closed with an error event and [DONE] (server/gevent_worker.py).
graceful_timeout = int(_env.get("GUNICORN_GRACEFUL_TIMEOUT") or int(_cfg.OPENROUTER_TIMEOUT / 1000) + 10)
# `timeout` is gunicorn's worker heartbeat, not a per-request limit: a gevent worker reports alive once a
# second from its loop, so this only fires when one step held the CPU (or the worker hung) for 30 s.
# Calls are bounded by OPENROUTER_TIMEOUT and the client read timeouts instead.
timeout = 30
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


def post_fork(server, worker):
    """Hand the gevent worker its client read timeouts (gunicorn has no setting for them)."""
    worker.client_header_timeout = _cfg.CLIENT_HEADER_TIMEOUT
    worker.client_body_timeout = _cfg.CLIENT_BODY_TIMEOUT


def post_worker_init(worker):
    """Freeze everything the worker built at start (modules, the app, the catalogue) out of the garbage
    collector's reach: a full collection then walks only what calls made since. Under heavy calls such a
    collection took 41-46 ms, and a pause stops every stream of a gevent worker."""
    gc.freeze()


def child_exit(server, worker):
    """Drop a dead worker's live gauges (streams in flight), as prometheus_client's mark_process_dead does.

    Done by hand: importing prometheus_client here would load it (and its locks) into the master, unpatched,
    for every worker forked after this one.
    """
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for path in glob.glob(os.path.join(directory, f"gauge_live*_{worker.pid}.db")):
        os.remove(path)
