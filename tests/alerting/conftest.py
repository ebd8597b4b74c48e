"""Fixtures of the alerting tests: an HTTP receiver for apprise and a SQLite MLflow store.

Creating an MLflow SQLite store runs its migrations (8-25 s on the 2-core CI machine), so the
empty store is created once per session and copied for each test: every test still gets its own
fresh, real store.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerting.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
