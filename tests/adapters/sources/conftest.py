"""Fixtures of the data-source tests: one local Spark session, its JVM stopped after the package.

The JVM (and its Python daemon) would otherwise live as long as the test process, and later
tests that check a failed run left no process behind would find them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A real ``local[2]`` SparkSession (UI off, 4 shuffle partitions, UTC)."""
    from mlflow_monitor.adapters.sources.spark import spark_session

    yield spark_session("local[2]")


@pytest.fixture(scope="package", autouse=True)
def _no_jvm_after_the_package() -> Iterator[None]:
    """After the last test here, stop any Spark session (the CLI starts its own) and its JVM."""
    yield
    import sys

    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    process = getattr(gateway, "proc", None)
    if process is not None:
        process.terminate()
        process.wait(timeout=60)
    SparkContext._gateway = None
    SparkContext._jvm = None
