#!/usr/bin/env bash
# Create .venv if needed, install the package with its dev extra, then ruff, mypy, the
# import-linter contracts (layers, no cycles) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# The HTML-safety tests and the dashboard's browser tests (selenium through chromedriver) run
# Debian's Chromium, installed with its driver where apt-get can (as root). Without them the
# HTML-safety browser checks are skipped and the dashboard's browser tests fail, naming what is
# missing.
if { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; } \
    && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
        || echo "chromium/chromium-driver could not be installed: the browser tests will fail"
fi
# The Spark engine's tests run pyspark in local[2], which needs a Java runtime (17+ for pyspark 4).
if ! command -v java >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null) \
        || echo "default-jre-headless could not be installed: the Spark tests will fail"
fi
.venv/bin/ruff check mlflow_monitor tests benchmarks examples
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
