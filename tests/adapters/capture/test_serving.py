"""The capture wrapper, served by ``mlflow models serve`` and loaded in-process, records every
request: same answers as the inner model, rows in the prediction log after shutdown."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.adapters.capture.pyfunc import (
    ENV_LOG_URI,
    TAG_MODEL,
    TAG_VERSION,
    CapturingModel,
    capture_settings,
    log_capturing_model,
)
from mlflow_monitor.adapters.prediction_log import META, open_log

pytestmark = pytest.mark.integration

FEATURES = ["tenure", "spend", "gender"]


@dataclass
class Store:
    uri: str
    root: Path
    inner_uri: str
    wrapper_uri: str
    log_uri: str  # the one logged in the wrapper's model_config
    inner: Any  # the inner model, loaded


def requests_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, n),
            "spend": rng.uniform(10, 200, n),
            "gender": rng.integers(0, 2, n),  # a protected attribute: not allowed into the log
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Iterator[Store]:
    """A SQLite store: ``churn`` v1 (sklearn) and its capture wrapper ``churn-served`` v1."""
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("capture")
    shutil.copyfile(_empty_store, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    x = requests_frame(200, seed=0)
    y = (x["tenure"] + 0.2 * x["spend"] > 50).astype(int)
    model = LogisticRegression(max_iter=500).fit(x, y)
    log_uri = str(root / "log")
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("capture", artifact_location=(root / "art").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            mlflow.sklearn.log_model(
                model,
                name="model",
                serialization_format="cloudpickle",
                signature=mlflow.models.infer_signature(x, model.predict(x)),
                pip_requirements=["scikit-learn"],
                registered_model_name="churn",
            )
            info = log_capturing_model(
                "models:/churn/1",
                registered_model_name="churn-served",
                log_uri=log_uri,
                allow=["tenure", "spend"],
                model_config={"flush_seconds": 60},  # rows reach the log at shutdown only
            )
        assert info.registered_model_version == 1
        inner = mlflow.pyfunc.load_model("models:/churn/1")
        yield Store(uri, root, "models:/churn/1", "models:/churn-served/1", log_uri, inner)
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def test_the_wrapper_is_registered_with_its_settings(store: Store) -> None:
    client = mlflow.MlflowClient(store.uri, store.uri)
    version = client.get_model_version("churn-served", "1")
    assert version.tags[TAG_MODEL] == "churn" and version.tags[TAG_VERSION] == "1"
    info = mlflow.models.get_model_info(store.wrapper_uri)
    settings = capture_settings(info.flavors["python_function"]["config"])
    assert settings["model"] == "churn" and settings["version"] == "1"
    assert settings["log_uri"] == store.log_uri
    assert settings["allow"] == ["tenure", "spend"] and settings["flush_seconds"] == 60
    assert info.signature is None  # the server hands the wrapper every column of a request
    requirements = Path(mlflow.pyfunc.get_model_dependencies(store.wrapper_uri)).read_text()
    assert "mlflow-monitor" in requirements.split() and "scikit-learn" in requirements.split()


def test_loaded_in_process_records_each_prediction(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_LOG_URI, str(tmp_path / "log"))  # the environment overrides
    wrapper = mlflow.pyfunc.load_model(store.wrapper_uri)
    capturing = wrapper.unwrap_python_model()
    assert isinstance(capturing, CapturingModel) and capturing.recorder is not None
    x = requests_frame(7, seed=1)
    for i in range(len(x)):
        row = x.iloc[[i]]
        assert wrapper.predict(row).tolist() == store.inner.predict(row).tolist()
    batch = wrapper.predict(x)
    assert batch.tolist() == store.inner.predict(x).tolist()
    assert capturing.recorder.close() == {"recorded": 14, "written": 14, "dropped": 0, "queued": 0}
    rows = open_log(str(tmp_path / "log")).read(model="churn")
    assert list(rows.columns) == [*META, "tenure", "spend", "prediction", "mm_dropped"]
    assert rows["mm_request_id"].nunique() == 8
    assert (rows["mm_version"] == "1").all()


def test_loaded_in_process_predicts_when_the_log_cannot_be_written(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(ENV_LOG_URI, str(blocker / "log"))
    wrapper = mlflow.pyfunc.load_model(store.wrapper_uri)
    x = requests_frame(5, seed=2)
    assert wrapper.predict(x).tolist() == store.inner.predict(x).tolist()
    recorder = wrapper.unwrap_python_model().recorder
    assert recorder.close(timeout=10) == {"recorded": 5, "written": 0, "dropped": 5, "queued": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_ping(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer /ping")


def invoke(port: int, frame: pd.DataFrame) -> list[Any]:
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return list(json.loads(response.read())["predictions"])


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM to the server's process group (the ``mlflow`` CLI and its uvicorn child), then wait
    until the whole group is gone; SIGKILL what is left after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # uvicorn, a child of the CLI, may outlive it briefly
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_served_model_records_every_request(store: Store, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store.uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop(ENV_LOG_URI, None)
    output = (tmp_path / "server.log").open("wb")
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", store.wrapper_uri]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sent = []
    try:
        wait_for_ping(port, proc, timeout=90)
        for i in range(30):
            x = requests_frame(1 + i % 3, seed=100 + i)
            assert invoke(port, x) == store.inner.predict(x).tolist()
            sent.append(x)
    finally:
        stop(proc)
        output.close()
    server_log = (tmp_path / "server.log").read_text(errors="replace")
    assert "prediction capture on" in server_log, server_log[-3000:]

    rows = open_log(store.log_uri).read(model="churn")
    expected = pd.concat(sent, ignore_index=True)
    assert len(rows) == len(expected), server_log[-3000:]
    assert rows["mm_request_id"].nunique() == 30
    assert sorted(rows.groupby("mm_request_id").size()) == sorted(len(x) for x in sent)
    assert (rows["mm_model"] == "churn").all() and (rows["mm_version"] == "1").all()
    assert list(rows.columns) == [*META, "tenure", "spend", "prediction", "mm_dropped"]  # no gender
    got = rows.sort_values(["tenure", "spend"]).reset_index(drop=True)
    want = expected.sort_values(["tenure", "spend"]).reset_index(drop=True)
    np.testing.assert_allclose(got["tenure"], want["tenure"])
    np.testing.assert_allclose(got["spend"], want["spend"])
    assert got["prediction"].tolist() == store.inner.predict(want).tolist()
