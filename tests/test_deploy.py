"""deploy/: the systemd unit passes systemd-analyze, and nginx accepts the shipped config as it is."""

import shutil
import subprocess

from tests.nginx_server import DEPLOY_CONF, MAIN, nginx_binary
from tests.servers import ROOT

UNIT = ROOT / "deploy" / "gateway.service"


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is not installed (.ci/run installs Debian's systemd package)"
    # The unit's own paths, moved to this checkout (verify checks that ExecStart can run).
    text = UNIT.read_text()
    text = text.replace("/opt/gateway/.venv", str(ROOT / ".venv")).replace(
        "WorkingDirectory=/opt/gateway", f"WorkingDirectory={ROOT}"
    )
    text = text.replace("EnvironmentFile=/etc/gateway/gateway.env", f"EnvironmentFile=-{tmp_path}/gateway.env")
    text = text.replace("User=gateway", "User=root").replace("Group=gateway", "Group=root")
    unit = tmp_path / "gateway.service"
    unit.write_text(text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr and "ignoring" not in result.stderr, result.stderr


def test_the_shipped_nginx_conf_is_valid_as_is(tmp_path):
    # Its own upstream addresses and port, only the log path moved (nginx -t opens it).
    text = DEPLOY_CONF.read_text().replace("/var/log/nginx/gateway.access.log", f"{tmp_path}/access.log")
    text = text.replace("listen 80;", "listen 127.0.0.1:1;")  # -t does not bind
    (tmp_path / "gateway.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(MAIN.format(prefix=tmp_path))
    command = [
        nginx_binary(),
        "-t",
        "-p",
        str(tmp_path),
        "-c",
        str(tmp_path / "nginx.conf"),
        "-e",
        str(tmp_path / "e.log"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
