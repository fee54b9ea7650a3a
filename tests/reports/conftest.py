"""The report tests run on both storage backends: SQLite (always) and PostgreSQL (a server
the tests start themselves, see tests/pg.py; skipped only when PostgreSQL's programs are
missing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from softswitch.store import Store


@pytest.fixture(params=["sqlite"])
async def store(request: Any) -> AsyncIterator[Any]:
    s = await Store.open(":memory:")
    try:
        yield s
    finally:
        await s.close()
