"""Capture for a served model: a pyfunc wrapper that records every prediction of the model inside.

``log_capturing_model("models:/churn/3", registered_model_name="churn-served", log_uri=...)``
logs and registers a new pyfunc model (MLflow "models from code": a three-line script that sets
``CapturingModel()``, so nothing is pickled) whose artifact ``inner_model`` is a copy of the
monitored model and whose ``model_config`` holds the capture settings. Serve or load the wrapper
like any model::

    mlflow models serve -m models:/churn-served/1 --env-manager local
    mlflow.pyfunc.load_model("models:/churn-served/1")

``CapturingModel.predict`` calls the inner model, hands inputs and outputs to a ``Recorder``
(``recorder.py``: buffered, never raises, never waits) and returns the inner output unchanged.
The wrapper is logged without a signature (unless one is given): the server hands it the
request as parsed, every column included, so the ids and protected attributes ``allow`` names
reach the recorder even though the model does not use them; the inner model then gets only its
own columns and checks them against its own signature. Carrying the inner signature on the
wrapper too ran that check twice and cost throughput: 71% of the plain model's requests per
second with 4 concurrent clients, against 133% without (the plain server converts the JSON
through the schema, the wrapper does not; ``benchmarks/bench_capture.py``). Recorded inputs keep
the types the request had.

Which model and version the rows name (``mm_model``, ``mm_version``): the *monitored* model,
i.e. the inner model's registered name and version, resolved when the wrapper is logged
(``models:/name/3``, or ``models:/name@champion`` resolved to its version then, so moving the
alias later does not change what a running server records), or given as ``model=`` and
``version=``. The wrapper cannot record its own registered version: that number exists only
after ``model_config`` is written (a logged model is immutable), and a server loads the model
from a local copy that does not know it. The monitoring spec, the baselines and the labels all
refer to the monitored model, and the wrapper's version is tagged with it
(``mlflow_monitor.capture.model`` / ``.version``), so nothing is lost. At deployment the
environment variables ``MLFLOW_MONITOR_LOG_URI``, ``MLFLOW_MONITOR_MODEL`` and
``MLFLOW_MONITOR_VERSION`` override the logged settings (for example a log path of the
serving machine).

Capture never stops a model from serving: if the settings are missing or the recorder cannot be
made, the wrapper logs a warning and serves without capture. See ``recorder.py`` for what is
kept of the inputs (``allow``, ``hash_ids``: captured inputs hold personal data and protected
attributes) and for the counts (``CapturingModel.recorder.stats()``; logged every minute).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from mlflow_monitor.adapters.capture.recorder import Recorder

__all__ = [
    "ENV_LOG_URI",
    "ENV_MODEL",
    "ENV_VERSION",
    "CapturingModel",
    "capture_settings",
    "log_capturing_model",
]

logger = logging.getLogger(__name__)

ENV_LOG_URI = "MLFLOW_MONITOR_LOG_URI"
ENV_MODEL = "MLFLOW_MONITOR_MODEL"
ENV_VERSION = "MLFLOW_MONITOR_VERSION"
INNER_ARTIFACT = "inner_model"
TAG_MODEL = "mlflow_monitor.capture.model"
TAG_VERSION = "mlflow_monitor.capture.version"
TAG_LOG_URI = "mlflow_monitor.capture.log_uri"
REQUIREMENT = "mlflow-monitor"
SCORING_SERVER_ENV = "__pyfunc_model_path__"  # set by mlflow models serve for its workers
_TUNING = ("buffer_rows", "flush_rows", "flush_seconds")

# The wrapper's model code (MLflow "models from code"): copied into the logged model and run
# when the model is loaded; needs mlflow-monitor installed where the model is served.
MODEL_CODE = """\
# Written by mlflow_monitor.adapters.capture.pyfunc.log_capturing_model: prediction capture.
import mlflow

from mlflow_monitor.adapters.capture.pyfunc import CapturingModel

mlflow.models.set_model(CapturingModel())
"""

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))/?$")


def capture_settings(model_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The capture settings: ``model_config`` overridden by the environment; keys ``log_uri``,
    ``model``, ``version``, ``allow`` (list or None), ``hash_ids`` (list) and any of
    ``buffer_rows``, ``flush_rows``, ``flush_seconds``."""
    config = dict(model_config or {})
    settings: dict[str, Any] = {
        "log_uri": os.environ.get(ENV_LOG_URI) or config.get("log_uri"),
        "model": os.environ.get(ENV_MODEL) or config.get("model"),
        "version": os.environ.get(ENV_VERSION) or config.get("version"),
        "allow": None if config.get("allow") is None else list(config["allow"]),
        "hash_ids": list(config.get("hash_ids") or ()),
    }
    settings.update({k: config[k] for k in _TUNING if config.get(k) is not None})
    return settings


class CapturingModel(PythonModel):  # type: ignore[misc]  # mlflow is untyped here
    """A pyfunc model that predicts with ``inner_model`` and records inputs and outputs."""

    def __init__(self) -> None:
        self.inner: Any = None
        self.recorder: Recorder | None = None
        self.inputs: list[str] | None = None  # the inner model's input columns, when it says

    def load_context(self, context: PythonModelContext) -> None:
        self.inner = mlflow.pyfunc.load_model(context.artifacts[INNER_ARTIFACT])
        self.inputs = _input_names(self.inner)
        self.recorder = None
        _show_capture_logs()
        try:
            settings = capture_settings(context.model_config)
            missing = [k for k in ("log_uri", "model", "version") if not settings.get(k)]
            if missing:
                raise ValueError(
                    f"no {', '.join(missing)} in model_config or {ENV_LOG_URI}/{ENV_MODEL}/"
                    f"{ENV_VERSION}"
                )
            self.recorder = Recorder(
                str(settings.pop("log_uri")),
                model=str(settings.pop("model")),
                version=str(settings.pop("version")),
                **settings,
            )
            logger.info("prediction capture on: %r", self.recorder)
            _flush_on_sigterm(self.recorder)
        except Exception as exc:
            logger.warning("prediction capture off, serving without it: %s", exc)

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> Any:
        # the pd.DataFrame hint: MLflow 3 infers no schema from it and passes the input as is
        features = model_input
        if (
            self.inputs is not None
            and isinstance(model_input, pd.DataFrame)
            and list(model_input.columns) != self.inputs
        ):
            # only the inner model's columns: extra recorded ones (ids, protected attributes)
            # would make MLflow warn on every request that it ignores them
            features = model_input[[c for c in self.inputs if c in model_input.columns]]
        output = self.inner.predict(features, params=params)
        recorder = self.recorder
        if recorder is not None:
            # Recorder.record never raises; this is belt and braces
            with contextlib.suppress(Exception):
                recorder.record(model_input, output)
        return output


def _input_names(inner: Any) -> list[str] | None:
    """The input column names of the inner model's signature (None without one)."""
    try:
        schema = inner.metadata.get_input_schema()
        names = schema.input_names() if schema is not None else None
    except Exception:  # no signature, or a tensor signature: pass the input as it came
        return None
    return [str(n) for n in names] if names else None


def log_capturing_model(
    inner_model_uri: str,
    *,
    registered_model_name: str,
    log_uri: str,
    allow: Sequence[str] | None = None,
    hash_ids: Sequence[str] = (),
    model: str | None = None,
    version: str | int | None = None,
    **log_kwargs: Any,
) -> Any:
    """Log and register the capture wrapper of ``inner_model_uri``; MLflow's ``ModelInfo``.

    The rows name ``model``/``version`` (default: the inner model's registered name and version,
    from ``models:/name/<version>`` or ``models:/name@<alias>``; required for other URIs).
    ``log_uri``: where the serving process appends (a path on the serving machine, or
    ``postgresql://``). ``allow``/``hash_ids``: see ``recorder.py``. ``log_kwargs`` go to
    ``mlflow.pyfunc.log_model`` (``name`` defaults to ``"model"``; no ``signature`` unless
    given, see the module docstring; ``model_config`` may add ``buffer_rows``, ``flush_rows``,
    ``flush_seconds``).
    """
    from mlflow.tracking import MlflowClient

    if isinstance(allow, str) or isinstance(hash_ids, str):
        raise TypeError("allow and hash_ids are sequences of column names, not one string")
    model, version = _monitored(inner_model_uri, model, version)
    config: dict[str, Any] = {
        **dict(log_kwargs.pop("model_config", None) or {}),
        "log_uri": str(log_uri),
        "model": model,
        "version": version,
        "allow": None if allow is None else [str(c) for c in allow],
        "hash_ids": [str(c) for c in hash_ids],
    }
    if "pip_requirements" not in log_kwargs and "conda_env" not in log_kwargs:
        log_kwargs["pip_requirements"] = _requirements(inner_model_uri)
    name = log_kwargs.pop("name", "model")
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "capturing_model.py"
        code.write_text(MODEL_CODE, encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(code),
            artifacts={INNER_ARTIFACT: inner_model_uri},
            model_config=config,
            registered_model_name=registered_model_name,
            **log_kwargs,
        )
    registered = getattr(info, "registered_model_version", None)
    if registered is not None:
        client = MlflowClient()
        for key, value in ((TAG_MODEL, model), (TAG_VERSION, version), (TAG_LOG_URI, log_uri)):
            client.set_model_version_tag(registered_model_name, str(registered), key, str(value))
    return info


def _monitored(uri: str, model: str | None, version: str | int | None) -> tuple[str, str]:
    """The monitored model's name and version: given, or the inner registered model's."""
    if model is not None and version is not None:
        return str(model), str(version)
    match = _MODELS_URI.match(uri)
    if match is None:
        raise ValueError(
            f"cannot tell the registered model and version of {uri!r}: pass model= and version="
        )
    found_version = match["version"]
    if found_version is None:
        from mlflow.tracking import MlflowClient

        found_version = MlflowClient().get_model_version_by_alias(match["name"], match["alias"])
        found_version = str(found_version.version)
    return str(model or match["name"]), str(version if version is not None else found_version)


def _requirements(inner_model_uri: str) -> list[str]:
    """The inner model's pip requirements, plus mlflow-monitor."""
    path = mlflow.pyfunc.get_model_dependencies(inner_model_uri, format="pip")
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    found = [
        line.strip() for line in lines if line.strip() and not line.strip().startswith(("#", "-"))
    ]
    if not any(re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] == REQUIREMENT for r in found):
        found.append(REQUIREMENT)
    return found


def _flush_on_sigterm(recorder: Recorder) -> None:
    """Under ``mlflow models serve``, write the buffered rows when the server is told to stop.

    uvicorn answers SIGTERM by shutting down, then restores the default action and raises the
    signal again: the process dies without running ``atexit``, and the rows still buffered
    (up to ``flush_seconds`` of requests) would be lost. So in the scoring server (its
    ``__pyfunc_model_path__`` variable set, model loaded in the main thread) the wrapper chains a
    SIGTERM handler: it writes what is buffered (waiting at most 5 s), makes the recorder write
    every later request at once (requests still in flight while uvicorn drains), then hands the
    signal to the previous handler (uvicorn's). Elsewhere signals are left alone and ``atexit``
    (``Recorder.close``) does the final write.
    """
    if os.environ.get(SCORING_SERVER_ENV) is None:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        with contextlib.suppress(Exception):
            recorder.flush_rows = 1
            recorder.flush(timeout=5.0)
        if callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            recorder.close(timeout=5.0)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError) as exc:  # not the main thread of the main interpreter
        logger.info("prediction capture: no SIGTERM flush (%s)", exc)


def _show_capture_logs() -> None:
    """In a server with no logging set up (``mlflow models serve``), show the capture's INFO
    lines (the counts every minute) and warnings on stderr; leave configured logging alone."""
    capture = logging.getLogger("mlflow_monitor.adapters.capture")
    if capture.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    capture.addHandler(handler)
    capture.setLevel(logging.INFO)
