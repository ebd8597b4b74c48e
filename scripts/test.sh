#!/usr/bin/env bash
# Create .venv if needed, install the package with its dev extra, then ruff, mypy, the
# import-linter contracts (layers, no cycles) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# The HTML-safety tests load the reports in a real browser: Debian's Chromium, installed once
# where apt-get can (as root); elsewhere those browser checks are reported as skipped.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
        || echo "chromium could not be installed: the browser checks will be skipped"
fi
.venv/bin/ruff check mlflow_monitor tests benchmarks examples
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
