"""The `live` fixture: a switch with queues, managers, agents and an admin, started in the
test's event loop (tests/web/live_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from live_support import Live, start_live


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for x in start_live(tmp_path):
        yield x
