"""The report tests run on both storage backends: SQLite, and PostgreSQL on a server the
tests start themselves (benchmarks/peers/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from benchmarks.peers import postgres as pg
from softswitch.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: Any) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        s: Any = await Store.open(":memory:")
        try:
            yield s
        finally:
            await s.close()
        return
    from softswitch.store.postgres import PostgresStore

    async with pg.database(request.getfixturevalue("postgres_server_url")) as url:
        s = await PostgresStore.open(url)
        try:
            yield s
        finally:
            await s.close()
