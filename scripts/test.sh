#!/usr/bin/env bash
# Create .venv if needed, install the package with its dev extra, then ruff, mypy, the
# import-linter contracts (layers, no cycles) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check mlflow_monitor tests benchmarks examples
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
