"""The public surface: ``__all__`` resolves, importing stays light, the CLI lists its commands."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

import mlflow_monitor
from mlflow_monitor.cli import main


def test_every_public_name_resolves() -> None:
    for name in mlflow_monitor.__all__:
        assert getattr(mlflow_monitor, name) is not None, name


def test_import_loads_neither_mlflow_nor_evidently() -> None:
    code = (
        "import sys, mlflow_monitor; "
        "print(sorted(m for m in ('mlflow', 'evidently', 'aequitas', 'papermill') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "baseline", "run", "status", "promote", "card", "history", "demo"):
        assert f"  {command} " in result.output, command
