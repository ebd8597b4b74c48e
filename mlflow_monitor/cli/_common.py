"""What every subcommand shares: options, the environment they run in, safe output, exit codes.

Exit codes (DESIGN.md section 4): 0 done, 1 a gate refused or ``--fail-on`` tripped,
2 bad input or a failed run, with one line on stderr.

Output: results go to stdout, progress and errors to stderr, always through ``say``. A reader
that went away (``mlflow-monitor run ... | head -1``, a closed terminal) makes a write fail with
``BrokenPipeError``; ``say`` then points that stream at the null device and carries on, so a
closed pipe never reaches a workflow (which would record a failed run) and never changes the exit
code. ``progress`` is the ``echo`` the commands hand to workflows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable
from typing import IO, NoReturn, ParamSpec, TypeVar

import click

from mlflow_monitor.errors import MonitorError

P = ParamSpec("P")
R = TypeVar("R")

_STARTED = time.monotonic()

# MLflow retries an unreachable server for about 4 minutes by default (7 retries, backoff 2).
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}
# Over HTTP MLflow prints "View run ... at: URL" on stdout when a run ends: stdout is for results.
_QUIET_DEFAULTS = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}

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


def version_option(help_text: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``--version N`` or ``--version @alias`` (resolve it with ``resolve_version``)."""
    return click.option(
        "--version", "version", required=True, help=f"{help_text} A number or @alias."
    )


# -- the environment ------------------------------------------------------------------------------
def command_defaults() -> None:
    """Fail fast on an unreachable tracking server; keep MLflow's own lines off stdout.

    Applied to every command by the group (``cli.main``). Only sets what the user has not set.
    """
    for key, value in {**_HTTP_DEFAULTS, **_QUIET_DEFAULTS}.items():
        os.environ.setdefault(key, value)


# -- versions and aliases ------------------------------------------------------------------------
def resolve_version(model: str, version: str, *, tracking_uri: str | None) -> str:
    """``version`` as a number: ``@alias`` is looked up in the registry (one line on stderr).

    A plain version passes through without importing MLflow, so commands stay quick to start.
    """
    if not version.startswith("@"):
        return version
    from mlflow_monitor.adapters.mlflow.models import resolve_version as lookup

    number = lookup(model, version, tracking_uri=tracking_uri)
    say(f"{model}{version} is version {number}", err=True)
    return number


def spec_model(spec_path: str) -> str:
    """The model a spec file monitors (validated like every command validates it)."""
    from mlflow_monitor.spec import load_spec

    return load_spec(spec_path).require_model(spec_path)


# -- output ------------------------------------------------------------------------------------
def say(message: str = "", *, err: bool = False) -> None:
    """Print one line on stdout (``err``: stderr); a reader that went away silences the stream."""
    try:
        click.echo(message, err=err)
    except OSError:  # BrokenPipeError; EIO from a terminal that closed
        _silence(sys.stderr if err else sys.stdout)


def progress(message: str) -> None:
    """The ``echo`` handed to workflows: a timed line on stderr that can never raise into them."""
    # ValueError: a closed file object, or text the stream cannot encode: the line is lost
    with contextlib.suppress(ValueError):
        say(f"{time.monotonic() - _STARTED:6.1f}s {message}", err=True)


def _silence(stream: IO[str]) -> None:
    """Point ``stream``'s descriptor at the null device: later writes, and the flush at exit,
    succeed instead of raising again (an in-memory stream, as in click's test runner, has none)."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    say(f"error: {message}", err=True)
    sys.exit(code)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``MonitorError`` into its one-line message and exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MonitorError as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            say(f"error: {first_line}", err=True)
            sys.exit(exc.exit_code)

    return wrapper
