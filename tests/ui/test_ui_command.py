"""``mlflow-monitor ui``: serves the dashboard and says where; its help names the shared
deployments; a busy port is one line and exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from mlflow_monitor.cli import main

MONITOR = Path(sys.executable).parent / "mlflow-monitor"


def test_help_says_how_to_serve_a_shared_dashboard() -> None:
    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--app-name monitor" in text
    assert "mlflow_monitor.ui:create_app" in text
    assert "[default: 127.0.0.1]" in text
    assert "[default: 5005]" in text


def test_a_busy_port_is_one_line_and_exit_2(tracking_uri: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            main, ["ui", "--tracking-uri", tracking_uri, "--port", str(port)]
        )
    assert result.exit_code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output


def test_it_serves_the_dashboard_and_prints_its_url(tracking_uri: str, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "ui.log"
    command = [str(MONITOR), "ui", "--tracking-uri", tracking_uri, "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    try:
        body = _fetch_when_up(process, f"http://127.0.0.1:{port}/monitor/api/fleet", log)
        assert json.loads(body) == {"rows": [], "tracking_uri": tracking_uri}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.url.endswith("/monitor/")  # / redirects to the fleet
            assert "No monitored model versions" in page.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert f"dashboard at http://127.0.0.1:{port}/monitor/" in log.read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch_when_up(process: subprocess.Popen[bytes], url: str, log: Path) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return str(response.read().decode())
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise AssertionError(f"mlflow-monitor ui did not answer:\n{log.read_text()[-3000:]}")


def test_a_sqlite_uri_naming_no_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "file.db"
    result = CliRunner().invoke(main, ["ui", "--tracking-uri", f"sqlite:///{missing}"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0], result.output
    assert not missing.parent.parent.exists()  # neither the file nor its folder was created
