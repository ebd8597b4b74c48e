"""Gate bypasses caught by MLflow's own webhooks: a real ``mlflow server`` delivers to a real
``mlflow-monitor ui`` process, which records, alerts (apprise -> HTTP receiver) and reverts.

Per backend (SQLite, PostgreSQL) one server and one dashboard are shared by the module: the
server runs with ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https`` and
``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true`` (the receiver is on 127.0.0.1), and the webhook is
registered with ``mlflow-monitor webhooks register`` before any alias moves. Versions are given
the tags, ``results.json`` and ``monitor.yaml`` a monitoring run leaves (no notebooks: the
gate reads only those). The dashboard's request log (werkzeug) says how many deliveries it
answered, so a test waits for its deliveries instead of sleeping.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.cli import main
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.ui.webhooks import WEBHOOK_PATH, sign
from mlflow_monitor.workflows.bypass import detect_bypasses
from mlflow_monitor.workflows.promote import history, promote
from mlflow_monitor.workflows.status import status_rows, status_table
from tests.fixtures.receiver import Receiver
from tests.integration.conftest import Server, _connect_admin, _wait_healthy, free_port

pytestmark = pytest.mark.integration

SECRET_ENV = "BYPASS_TEST_WEBHOOK_SECRET"
SECRET = "s3cret-" + uuid.uuid4().hex
MONITOR = Path(sys.executable).parent / "mlflow-monitor"
# werkzeug's request log line; for codes other than 200 the request is in ANSI colours
_ANSWERED = re.compile(r'"(?:\x1b\[[\d;]*m)*POST /monitor/webhooks/mlflow[^"]*" (\d{3})')
_WAIT_SECONDS = 60.0


@dataclass
class Stack:
    """The server, the dashboard process receiving its webhooks, and the dashboard's log."""

    server: Server
    ui_url: str
    ui: subprocess.Popen[bytes]
    ui_log: Path
    root: Path
    webhook_id: str

    @property
    def uri(self) -> str:
        return self.server.uri

    def answered(self) -> list[int]:
        """HTTP codes of every webhook delivery the dashboard answered, in order."""
        return [int(c) for c in _ANSWERED.findall(self.ui_log.read_text(errors="replace"))]

    def wait_answered(self, count: int) -> list[int]:
        deadline = time.monotonic() + _WAIT_SECONDS
        while time.monotonic() < deadline:
            if len(self.answered()) >= count:
                return self.answered()
            time.sleep(0.25)
        tail = self.ui_log.read_text(errors="replace")[-3000:]
        raise AssertionError(
            f"{count} deliveries not answered in time; got {self.answered()}\n{tail}"
        )


def _backend(kind: str, root: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{root / 'mlflow.db'}"
        return
    conn = _connect_admin()
    name = f"mlflow_bypass_{uuid.uuid4().hex[:10]}"
    user = conn.info.user  # type: ignore[attr-defined]
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}"
    finally:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()  # type: ignore[attr-defined]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", **extra)
    return env


def _start_server(backend: str, root: Path, *extra: str, **env_extra: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend]
    command += ["--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", *extra]
    env = _environment(
        MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
        MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
        **env_extra,
    )
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_healthy(server.uri, process, timeout=240)
    except BaseException:
        server.stop()
        raise
    return server


def _start_ui(tracking_uri: str, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    command = [str(MONITOR), "ui", "--tracking-uri", tracking_uri, "--port", str(port)]
    command += ["--webhook-secret-env", SECRET_ENV]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=_environment(**{SECRET_ENV: SECRET}), stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(base + "/monitor/api/fleet", timeout=30):
                return base, process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise AssertionError("mlflow-monitor ui did not answer")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"bypass-{request.param}")
    backends = _backend(request.param, root)
    server = _start_server(next(backends), root)
    ui: subprocess.Popen[bytes] | None = None
    try:
        ui_url, ui = _start_ui(server.uri, root / "ui.log")
        registered = CliRunner().invoke(
            main,
            [
                *("webhooks", "register", "--url", ui_url + WEBHOOK_PATH),
                *("--secret-env", SECRET_ENV, "--tracking-uri", server.uri),
            ],
            env={SECRET_ENV: SECRET},
        )
        assert registered.exit_code == 0, registered.output
        assert "registered webhook mlflow-monitor" in registered.output
        assert SECRET not in registered.output
        (hook,) = MlflowClient(server.uri).list_webhooks()
        yield Stack(server, ui_url, ui, root / "ui.log", root, hook.webhook_id)
    finally:
        if ui is not None:
            ui.terminate()
            ui.wait(timeout=30)
        server.stop()
        next(backends, None)


# -- versions as a monitoring run leaves them ----------------------------------------------------
def spec_text(name: str, receiver: Receiver, *, revert: bool) -> str:
    return (
        f"model: {name}\ntask: binary_classification\n"
        "columns: {prediction: p, numerical: [x]}\n"
        f"gates:\n  champion: {{max_age: 7d, revert_bypass: {str(revert).lower()}}}\n"
        "alerts:\n  channels:\n"
        f"    - {{url: '{receiver.url('json', 'oncall')}', min_severity: critical, name: oncall}}\n"
    )


def craft(stack: Stack, name: str, version: str, *, health: str, spec: str) -> None:
    """Tags, a FINISHED window run with ``results.json`` and ``monitor.yaml``, a baseline run."""
    runs = MonitorRuns(stack.uri)
    base = runs.start_run(name, version, kind="baseline", run_name="baseline", tags={})
    runs.end_run(base, "FINISHED")
    window = runs.start_run(name, version, kind="window", run_name="window", tags={})
    folder = stack.root / f"{name}-{version}"
    folder.mkdir()
    status = "pass" if health == "healthy" else "fail"
    outcome = {"check_id": "performance/roc_auc", "status": status, "severity": "critical"}
    (folder / "results.json").write_text(json.dumps({"health": health, "outcomes": [outcome]}))
    (folder / "monitor.yaml").write_text(spec)
    runs.log_file(window, folder / "results.json")
    runs.log_file(window, folder / "monitor.yaml")
    runs.end_run(window, "FINISHED")
    checked = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {
        "monitor.health": health,
        "monitor.last_checked": checked,
        "monitor.baseline_run_id": base,
        "monitor.last_run_id": window,
    }
    runs.set_version_tags(name, version, tags)


def model_with(stack: Stack, name: str, healths: list[str], spec: str) -> MlflowClient:
    client = MlflowClient(stack.uri, stack.uri)
    client.create_registered_model(name)
    for number, health in enumerate(healths, start=1):
        client.create_model_version(name, f"s3://models/{name}/{number}")
        craft(stack, name, str(number), health=health, spec=spec)
    return client


def decisions(stack: Stack, name: str) -> list[tuple[str, str]]:
    return [(r.decision, r.version) for r in history(name, tracking_uri=stack.uri)]


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


# -- tests ---------------------------------------------------------------------------------------
def test_bypass_is_recorded_alerted_and_reverted_once(stack: Stack, receiver: Receiver) -> None:
    name = f"reverted-{uuid.uuid4().hex[:6]}"
    spec = spec_text(name, receiver, revert=True)
    client = model_with(stack, name, ["healthy", "critical"], spec)
    before = len(stack.answered())
    promote(parse_spec_text(spec), name, "1", "champion", tracking_uri=stack.uri)
    stack.wait_answered(before + 1)  # the promotion's own event: ours, nothing recorded
    assert decisions(stack, name) == [("granted", "1")]

    client.set_registered_model_alias(name, "champion", "2")  # around the gate
    # the bypass's event, then the revert's own event (ours: no second revert); under load
    # MLflow may also retry a slow delivery (same id: answered "duplicate")
    wait_for(lambda: len(decisions(stack, name)) >= 3, "the bypass and revert records")
    codes = stack.wait_answered(before + 3)
    assert set(codes[before:]) == {200}
    assert decisions(stack, name) == [("granted", "1"), ("bypass", "2"), ("revert", "1")]
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    records = history(name, tracking_uri=stack.uri)
    bypass = records[1]
    assert bypass.user == "unknown (webhook)" and bypass.previous_version == "1"
    assert bypass.reasons[0].startswith("health: critical")
    assert bypass.event is not None and bypass.event["event"] == "model_version_alias.created"
    assert re.fullmatch(r"[0-9a-f-]{36}", bypass.event["delivery_id"])
    assert records[2].previous_version == "2"

    wait_for(lambda: bool(receiver.messages("oncall")), "the bypass alert")
    (message,) = receiver.messages("oncall")
    assert f"{name}@champion moved to version 2 around its gate" in message.title
    assert "[CRITICAL]" in message.title and "moved back to version 1" in message.message
    assert SECRET not in message.message
    assert detect_bypasses(tracking_uri=stack.uri, model=name) == []


def test_bypass_without_revert_stays_and_status_says_so(stack: Stack, receiver: Receiver) -> None:
    name = f"kept-{uuid.uuid4().hex[:6]}"
    spec = spec_text(name, receiver, revert=False)
    client = model_with(stack, name, ["healthy", "critical"], spec)
    before = len(stack.answered())
    promote(parse_spec_text(spec), name, "1", "champion", tracking_uri=stack.uri)
    client.set_registered_model_alias(name, "champion", "2")
    stack.wait_answered(before + 2)
    wait_for(lambda: ("bypass", "2") in decisions(stack, name), "the bypass record")
    assert decisions(stack, name) == [("granted", "1"), ("bypass", "2")]
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
    wait_for(lambda: bool(receiver.messages("oncall")), "the bypass alert")
    assert "still points at version 2" in receiver.messages("oncall")[0].message

    table = status_table(status_rows(name, tracking_uri=stack.uri))
    assert f"bypass: {name}@champion -> version 2 (recorded" in table


def test_promote_through_the_server_is_not_a_bypass(stack: Stack, receiver: Receiver) -> None:
    name = f"promoted-{uuid.uuid4().hex[:6]}"
    spec = spec_text(name, receiver, revert=True)
    model_with(stack, name, ["healthy", "healthy"], spec)
    spec_file = stack.root / f"{name}.yaml"
    spec_file.write_text(spec)
    before = len(stack.answered())
    for version in ("1", "2"):
        done = CliRunner().invoke(
            main,
            [
                *("promote", "--tracking-uri", stack.uri, "--model", name, "--alias"),
                *("champion", "--version", version, "--spec", str(spec_file)),
            ],
        )
        assert done.exit_code == 0, done.output
    assert set(stack.wait_answered(before + 2)[before:]) == {200}
    assert decisions(stack, name) == [("granted", "1"), ("granted", "2")]
    assert receiver.messages() == []
    assert detect_bypasses(tracking_uri=stack.uri, model=name) == []


def test_signatures_real_delivery_and_forged_requests(stack: Stack) -> None:
    before = len(stack.answered())
    tested = MlflowClient(stack.uri).test_webhook(stack.webhook_id)  # MLflow signs it
    assert tested.success and tested.response_status == 200, tested
    assert json.loads(tested.response_body or "{}")["outcome"] == "moved_on"  # example_model

    body = json.dumps(
        {"entity": "registered_model", "action": "created", "data": {"name": "x"}}
    ).encode()
    now = str(int(time.time()))
    delivery = str(uuid.uuid4())

    def post(headers: dict[str, str]) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(
            stack.ui_url + WEBHOOK_PATH,
            data=body,
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def headers(stamp: str, signature: str, ident: str = delivery) -> dict[str, str]:
        return {
            "X-MLflow-Delivery-Id": ident,
            "X-MLflow-Timestamp": stamp,
            "X-MLflow-Signature": signature,
        }

    wrong = sign("not-the-secret", delivery, now, body)
    assert post(headers(now, wrong))[0] == 401
    old = str(int(time.time()) - 301)
    assert post(headers(old, sign(SECRET, delivery, old, body)))[0] == 401
    assert post({})[0] == 401
    valid = headers(now, sign(SECRET, delivery, now, body))
    assert post(valid) == (
        200,
        {"status": "ignored", "detail": "event registered_model.created is not watched"},
    )
    code, answer = post(valid)  # the same delivery again
    assert code == 200 and answer["status"] == "duplicate"
    assert stack.answered()[before:] == [200, 401, 401, 401, 200, 200]


def test_plugin_mode_receives_its_own_servers_webhooks(tmp_path: Path, receiver: Receiver) -> None:
    """``mlflow server --app-name monitor``: the server delivers to its own /monitor route."""
    server = _start_server(
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        tmp_path,
        "--app-name",
        "monitor",
        MLFLOW_MONITOR_WEBHOOK_SECRET=SECRET,
    )
    try:
        url = server.uri + WEBHOOK_PATH
        done = CliRunner().invoke(
            main,
            [
                *("webhooks", "register", "--url", url, "--secret-env", SECRET_ENV),
                *("--model", "in-plugin", "--tracking-uri", server.uri),
            ],
            env={SECRET_ENV: SECRET},
        )
        assert done.exit_code == 0, done.output
        assert "registered webhook mlflow-monitor.in-plugin" in done.output
        listed = CliRunner().invoke(main, ["webhooks", "list", "--tracking-uri", server.uri])
        assert f"{url}?model=in-plugin" in listed.output and SECRET not in listed.output
        stack = Stack(server, server.uri, server.process, tmp_path / "none.log", tmp_path, "")
        spec = spec_text("in-plugin", receiver, revert=True)
        client = model_with(stack, "in-plugin", ["healthy", "critical"], spec)
        promote(parse_spec_text(spec), "in-plugin", "1", "champion", tracking_uri=server.uri)
        client.set_registered_model_alias("in-plugin", "champion", "2")
        wait_for(lambda: len(decisions(stack, "in-plugin")) >= 3, "bypass and revert records")
        wait_for(lambda: bool(receiver.messages("oncall")), "the bypass alert")
        assert decisions(stack, "in-plugin") == [
            ("granted", "1"),
            ("bypass", "2"),
            ("revert", "1"),
        ]
        assert str(client.get_model_version_by_alias("in-plugin", "champion").version) == "1"
    finally:
        server.stop()


def parse_spec_text(text: str) -> MonitorSpec:
    import yaml

    return parse_spec(yaml.safe_load(text))
