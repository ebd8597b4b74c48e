"""What every subcommand shares: the tracking-URI option and the error-to-exit-code rule.

Exit codes (DESIGN.md section 4): 0 done, 1 a gate refused or ``--fail-on`` tripped,
2 bad input or a failed run, with one line on stderr.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from mlflow_monitor.errors import MonitorError

P = ParamSpec("P")
R = TypeVar("R")

tracking_uri_option = click.option(
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    default=None,
    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else MLflow's own default).",
)


def spec_option(
    help_text: str = "The model's monitor.yaml.", *, required: bool = True
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--spec PATH`` (the command receives ``spec_path``; ``None`` when optional and absent)."""
    return click.option(
        "--spec",
        "spec_path",
        required=required,
        default=None,
        type=click.Path(dir_okay=False),
        help=help_text,
    )


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``MonitorError`` into its one-line message and exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MonitorError as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            click.echo(f"error: {first_line}", err=True)
            sys.exit(exc.exit_code)

    return wrapper
