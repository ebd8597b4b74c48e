"""Fixtures of the data-source tests: one local Spark session for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A real ``local[2]`` SparkSession (UI off, 4 shuffle partitions, UTC), stopped at the end."""
    from mlflow_monitor.adapters.sources.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()
