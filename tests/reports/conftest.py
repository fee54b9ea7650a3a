"""The report tests run on both storage backends (``any_store`` in tests/conftest.py):
SQLite, and PostgreSQL on a server the tests start themselves."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def store(any_store: Any) -> Any:
    return any_store
