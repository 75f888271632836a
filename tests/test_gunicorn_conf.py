"""gunicorn.conf.py: gevent workers by default, and nothing loaded in the master that gevent must patch first."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the master holds when a worker forks: gunicorn's own modules and gunicorn.conf.py's imports.
MASTER_MODULES = """
import runpy, sys
import gunicorn.app.wsgiapp, gunicorn.arbiter, gunicorn.workers.ggevent
settings = runpy.run_path("gunicorn.conf.py")
from gunicorn.util import load_class
load_class(settings["worker_class"])
print(" ".join(sorted(sys.modules)))
print(settings["worker_class"], settings.get("worker_connections"), settings.get("threads"), settings["timeout"])
"""


def _master(env):
    clean = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": "/tmp/unused", **env}
    out = subprocess.run(
        [sys.executable, "-c", MASTER_MODULES], cwd=ROOT, env=clean, capture_output=True, text=True, check=True
    )
    modules, settings = out.stdout.splitlines()
    return set(modules.split()), settings.split()


def test_default_is_the_gevent_worker_with_2000_connections():
    modules, settings = _master({})
    assert settings == ["server.gevent_worker.GatewayWorker", "2000", "None", "30"]


def test_worker_connections_and_gthread_come_from_the_environment():
    assert _master({"GUNICORN_WORKER_CONNECTIONS": "300"})[1][:2] == ["server.gevent_worker.GatewayWorker", "300"]
    assert _master({"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "5"})[1][0::2] == ["gthread", "5"]


def test_the_master_imports_nothing_gevent_must_patch_first():
    modules, _ = _master({})
    for name in ("requests", "urllib3", "redis", "flask", "werkzeug", "app", "upstream", "prometheus_client"):
        assert name not in modules, name
    # Of the gateway's own packages, only the settings and the worker class.
    assert {name for name in modules if name.split(".")[0] in {"core", "server", "webapp", "services"}} == {
        "core",
        "core.config",
        "server",
        "server.dns",
        "server.gevent_worker",
    }


def test_a_dead_workers_live_gauges_are_dropped_without_prometheus_client(tmp_path, monkeypatch):
    import runpy
    from types import SimpleNamespace

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    for name in ("gauge_livesum_41.db", "gauge_liveall_41.db", "gauge_livesum_42.db", "counter_41.db"):
        (tmp_path / name).write_bytes(b"")
    settings["child_exit"](None, SimpleNamespace(pid=41))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_41.db", "gauge_livesum_42.db"]
