"""Fixtures: an engine on loopback with a randomly placed port range; plain-socket phones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from media_phones import Phone, free_port_range

from media import MediaEngine


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    eng = MediaEngine("127.0.0.1", free_port_range())
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for p in made:
        p.close()
