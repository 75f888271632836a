"""gunicorn settings: `gunicorn -c gunicorn.conf.py` alone starts the gateway."""

import os

from config import Config

_cfg = Config()

wsgi_app = "app:create_app()"
# gthread: a model call may take minutes and a stream holds its thread; a sync worker would be killed
# by its timeout mid-call, and one stream would pin the whole worker.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# In-memory quotas and tool sessions are per process: several workers only with Redis behind them.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1) if _cfg.REDIS_URL else 1
bind = os.environ.get("BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# A deploy waits for running calls to finish rather than cutting them.
_upstream_s = _cfg.OPENROUTER_TIMEOUT / 1000
graceful_timeout = int(_upstream_s) + 10
timeout = max(30, int(_upstream_s) + 10)
# Longer than a load balancer's idle timeout (nginx and ALB use 60 s), so the proxy closes first.
keepalive = 75
accesslog = None  # the app writes one structured line per request itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
forwarded_allow_ips = "*"  # ProxyFix with TRUSTED_PROXIES decides which hops are believed
# Several gateways (tests, benchmarks, blue/green) share a host: no shared control socket in $HOME.
control_socket_disable = True
