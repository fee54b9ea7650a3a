"""Suite-wide fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Each test starts from structlog's defaults (lines to the current sys.stdout), so a test
    that configures logging for itself cannot send later tests' log lines elsewhere."""
    yield
    structlog.reset_defaults()
