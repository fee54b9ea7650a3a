"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Each test starts from structlog's defaults (lines to the current sys.stdout), so a test
    that configures logging for itself cannot send later tests' log lines elsewhere."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One PostgreSQL server for the whole run (benchmarks/peers/postgres.py), started on
    first use."""
    from benchmarks.peers import postgres as pg

    if not pg.available():
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    with pg.postgres_server() as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    from benchmarks.peers import postgres as pg

    async with pg.database(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_store(request: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """A fresh, migrated store on each backend in turn: an SQLite file, and a new database
    on the session's PostgreSQL server."""
    if request.param == "sqlite":
        from softswitch.store import Store

        store: Any = await Store.open(str(tmp_path / "switch.sqlite3"))
        yield store
        await store.close()
        return
    from benchmarks.peers import postgres as pg
    from softswitch.store.postgres import PostgresStore

    async with pg.database(request.getfixturevalue("postgres_server_url")) as url:
        store = await PostgresStore.open(url)
        yield store
        await store.close()
