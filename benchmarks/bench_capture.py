"""Latency that prediction capture adds to a served model: the same model with and without it.

    .venv/bin/python benchmarks/bench_capture.py --requests 500

In a temporary SQLite MLflow store: a scikit-learn LogisticRegression on 12 numeric features is
registered as ``bench-plain`` v1, and its capture wrapper
(``mlflow_monitor.adapters.capture.pyfunc.log_capturing_model``, embedded parquet log, all input
columns kept, default buffering: flush every 1 s or 1,000 rows) as ``bench-captured`` v1. Both are
served by ``mlflow models serve --env-manager local -w 1`` on 127.0.0.1 (two servers at once);
after ``--warmup`` requests each, ``--requests`` single-row ``dataframe_split`` requests go to
each, alternating plain/captured (the order flips every pair), one at a time over one keep-alive
connection per server. Latency is the client's wall time per request. Then both servers get
SIGTERM and the rows in the log are counted (they should equal the captured requests).

A second table times ``PyFuncModel.predict`` in this process (``mlflow.pyfunc.load_model`` of
both models, same single rows): the capture's own cost without HTTP noise.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(model_uri: str, tracking_uri: str, folder: Path, name: str) -> tuple[Any, int]:
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    output = (folder / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        command, env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return proc, port


def wait_for_ping(port: int, proc: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not answer /ping")


def stop(proc: Any, timeout: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()  # reap the CLI process: a zombie still counts as a group member
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(5)


class Client:
    """One keep-alive connection to a scoring server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def predict(self, body: bytes) -> tuple[float, list[Any]]:
        t = time.perf_counter()
        self.connection.request(
            "POST", "/invocations", body=body, headers={"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - t
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {payload[:500]!r}")
        return elapsed, json.loads(payload)["predictions"]


def throughput(port: int, bodies: list[bytes], *, clients: int, seconds: float) -> float:
    """Requests per second ``clients`` keep-alive connections complete in ``seconds``."""
    import threading

    done = [0] * clients
    stop_at = time.perf_counter() + seconds

    def work(index: int) -> None:
        client = Client(port)
        i = index
        while time.perf_counter() < stop_at:
            client.predict(bodies[i % len(bodies)])
            done[index] += 1
            i += clients
        client.connection.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def summary(times_s: list[float]) -> dict[str, float]:
    ms = np.array(times_s) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "max": float(ms.max()),
    }


def table(title: str, plain: list[float], captured: list[float]) -> None:
    a, b = summary(plain), summary(captured)
    print(f"\n{title}")
    print(f"{'':>10} " + " ".join(f"{k:>8}" for k in a))
    print(f"{'plain':>10} " + " ".join(f"{v:8.2f}" for v in a.values()))
    print(f"{'captured':>10} " + " ".join(f"{v:8.2f}" for v in b.values()))
    print(f"{'added':>10} " + " ".join(f"{b[k] - a[k]:8.2f}" for k in a) + "   (ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests per server")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests per server first")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (throughput)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput round")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds per server")
    args = parser.parse_args()

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from mlflow_monitor.adapters.capture.pyfunc import log_capturing_model
    from mlflow_monitor.adapters.prediction_log import open_log

    folder = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    log_uri = str(folder / "log")
    rng = np.random.default_rng(0)
    features = [f"f{i}" for i in range(12)]
    x = pd.DataFrame(rng.normal(size=(2000, len(features))), columns=features)
    y = (x["f0"] + 0.5 * x["f1"] - x["f2"] > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(x, y)

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.create_experiment("bench", artifact_location=(folder / "art").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=mlflow.models.infer_signature(x, model.predict(x)),
            pip_requirements=["scikit-learn"],
            registered_model_name="bench-plain",
        )
        log_capturing_model(
            "models:/bench-plain/1", registered_model_name="bench-captured", log_uri=log_uri
        )

    total = args.warmup + args.requests
    pool = pd.DataFrame(rng.normal(size=(total, len(features))), columns=features)
    bodies = [
        json.dumps({"dataframe_split": pool.iloc[[i]].to_dict(orient="split")}).encode()
        for i in range(total)
    ]

    # in-process first (the servers are not running yet)
    plain_model = mlflow.pyfunc.load_model("models:/bench-plain/1")
    captured_model = mlflow.pyfunc.load_model("models:/bench-captured/1")
    in_plain: list[float] = []
    in_captured: list[float] = []
    for i in range(total):
        row = pool.iloc[[i]]
        pair = [(plain_model, in_plain), (captured_model, in_captured)]
        for m, times in pair if i % 2 == 0 else pair[::-1]:
            t = time.perf_counter()
            m.predict(row)
            if i >= args.warmup:
                times.append(time.perf_counter() - t)
    in_stats = captured_model.unwrap_python_model().recorder.close()

    procs = {}
    try:
        for name, uri in (
            ("plain", "models:/bench-plain/1"),
            ("captured", "models:/bench-captured/1"),
        ):
            procs[name] = serve(uri, tracking_uri, folder, name)
        for proc, port in procs.values():
            wait_for_ping(port, proc)
        clients = {name: Client(port) for name, (_, port) in procs.items()}
        times: dict[str, list[float]] = {"plain": [], "captured": []}
        for i in range(total):
            order = ["plain", "captured"] if i % 2 == 0 else ["captured", "plain"]
            answers = {}
            for name in order:
                elapsed, answers[name] = clients[name].predict(bodies[i])
                if i >= args.warmup:
                    times[name].append(elapsed)
            if answers["plain"] != answers["captured"]:
                raise SystemExit(f"different answers for request {i}: {answers}")
        for client in clients.values():
            client.connection.close()  # an open keep-alive connection delays uvicorn's shutdown
        rates: dict[str, list[float]] = {"plain": [], "captured": []}
        for r in range(args.rounds):  # one server at a time, alternating, so they never compete
            for name in ("plain", "captured") if r % 2 == 0 else ("captured", "plain"):
                port = procs[name][1]
                rates[name].append(
                    throughput(port, bodies, clients=args.clients, seconds=args.seconds)
                )
    finally:
        stopped = time.perf_counter()
        for proc, _ in procs.values():
            stop(proc)
        stopped = time.perf_counter() - stopped

    print(f"servers stopped in {stopped:.1f} s", file=sys.stderr)
    rows = open_log(log_uri).read(model="bench-plain")
    served_rows = len(rows) - in_stats["written"]
    cpu = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
          f"mlflow {mlflow.__version__}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{args.requests} timed single-row requests per model after {args.warmup} warm-up ones")
    table("HTTP, mlflow models serve (client wall time per request)", *times.values())
    table("in-process PyFuncModel.predict", in_plain, in_captured)
    plain_rate = sum(rates["plain"]) / len(rates["plain"])
    captured_rate = sum(rates["captured"]) / len(rates["captured"])
    print(
        f"\nthroughput, {args.clients} concurrent clients, {args.rounds} x {args.seconds:.0f} s "
        f"per server: plain {plain_rate:.0f} req/s, captured {captured_rate:.0f} req/s "
        f"({captured_rate / plain_rate:.0%} of plain)"
    )
    print(
        f"\nrows in the log: {served_rows} from the served wrapper "
        f"({total} timed and warm-up requests, then the throughput rounds), "
        f"{in_stats['written']} in-process (recorder: {in_stats})"
    )
    if args.keep:
        print(f"kept: {folder}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
