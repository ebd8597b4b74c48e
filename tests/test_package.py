"""The public surface: ``__all__`` resolves and is typed, importing stays light, the CLI lists
its commands."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

import mlflow_monitor
from mlflow_monitor.cli import main

HEAVY = ("mlflow", "evidently", "aequitas", "papermill", "pandas", "numpy", "scipy", "sklearn")


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    listed = dir(mlflow_monitor)
    for name in mlflow_monitor.__all__:
        assert getattr(mlflow_monitor, name) is not None, name
        assert name in listed, name


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        mlflow_monitor.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_import_is_light_and_has_no_side_effects(tmp_path: Path) -> None:
    code = (
        "import logging, os, sys, mlflow_monitor; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); "
        "print(sorted(os.listdir('.'))); print(len(logging.getLogger().handlers))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    loaded, files, handlers = out.stdout.strip().splitlines()
    assert loaded == "[]"  # MLflow, pandas and the statistics load on first use
    assert files == "[]"  # nothing written where it was imported
    assert handlers == "0"  # no logging configured behind the user's back
    assert out.stderr == ""


def test_exports_are_typed_for_mypy(tmp_path: Path) -> None:
    """mypy sees the lazy names' real types: a right use passes, a wrong one names the type."""
    from mypy import api

    source = tmp_path / "use_api.py"
    source.write_text(
        textwrap.dedent(
            """
            import pandas as pd
            import mlflow_monitor as mm

            def judged(frame: pd.DataFrame) -> str:
                spec = mm.make_spec(task="regression", columns={"prediction": "p"})
                baseline: mm.Baseline = mm.build_baseline(spec=spec, reference=frame)
                result: mm.WindowResult = mm.evaluate(spec=spec, baseline=baseline, current=frame)
                run: mm.WindowRun = mm.monitor(spec=spec, version=1, current=frame, model="m")
                moved: mm.Rebaselined = mm.rebaseline(
                    spec=spec, version=1, reason="new normal", window_run="r", current=frame
                )
                return result.health + run.run_id + moved.audit_run_id

            wrong: int = mm.status()
            """
        )
    )
    stdout, _, code = api.run([str(source), "--ignore-missing-imports", "--follow-imports=silent"])
    assert code == 1, stdout
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, stdout
    assert '"StatusReport"' in errors[0] and "use_api.py:15:" in errors[0], stdout


def test_cli_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = ("init", "baseline", "run", "backfill", "status", "promote", "card", "history")
    for command in (*commands, "demo", "labels", "log", "rebaseline"):
        assert f"  {command} " in result.output, command
