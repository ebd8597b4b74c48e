"""Regenerate ``tests/fixtures/legacy_store``: an MLflow store written by an earlier release.

The contract's readers must keep reading what earlier releases wrote (results.json schema 1,
version tags, alert state, audit runs). This script checks out ``--rev`` (default: the last
release before the layered package, 33892fe) into a temporary folder, runs its ``demo`` (a
baseline and three windows: healthy, warning, critical) against a SQLite store at a fixed path,
drops the bulky files no reader needs (HTML reports, executed notebooks, the model file) and
copies the store into the fixture folder. Tests copy it and rewrite the fixed path
(``LEGACY_ROOT``) to their own folder.

    .venv/bin/python scripts/make_legacy_store.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LEGACY_ROOT = "/tmp/mlflow-monitor-legacy-store"
REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "legacy_store"
_BULKY = ("*.html", "*.ipynb", "*.pkl", "*.skops")  # the baseline sample stays


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="33892fe", help="git revision of the earlier release")
    parser.add_argument("--rows", type=int, default=1500, help="rows per demo window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="legacy-src-") as src:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.rev], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
        _bundle_resources(Path(src))
        shutil.rmtree(LEGACY_ROOT, ignore_errors=True)
        env = {**os.environ, "PYTHONPATH": src, "MLFLOW_TRACKING_URI": ""}
        code = "import sys; from mlflow_monitor.cli import main; main(sys.argv[1:])"
        subprocess.run(
            [sys.executable, "-c", code, "demo", "--dir", LEGACY_ROOT, "--rows", str(args.rows)],
            check=True,
            env=env,
            cwd=src,
        )
    root = Path(LEGACY_ROOT)
    for pattern in _BULKY:
        for path in root.rglob(pattern):
            path.unlink()
    shutil.rmtree(root / "data", ignore_errors=True)
    shutil.rmtree(FIXTURE, ignore_errors=True)
    FIXTURE.mkdir(parents=True)
    shutil.copyfile(root / "mlflow.db", FIXTURE / "mlflow.db")
    shutil.copytree(root / "mlartifacts", FIXTURE / "mlartifacts")
    shutil.copyfile(root / "monitor.yaml", FIXTURE / "monitor.yaml")
    print(f"wrote {FIXTURE} from {args.rev}")
    return 0


def _bundle_resources(src: Path) -> None:
    """The old release mapped top-level notebooks/ and model_cards/ into the package on install."""
    package = src / "mlflow_monitor"
    if (src / "notebooks").is_dir() and not (package / "bundled_notebooks").exists():
        shutil.copytree(src / "notebooks", package / "bundled_notebooks")
    if (src / "model_cards").is_dir() and not (package / "model_cards").exists():
        shutil.copytree(src / "model_cards", package / "model_cards")


if __name__ == "__main__":
    sys.exit(main())
