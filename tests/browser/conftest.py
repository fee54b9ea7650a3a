"""Browser tests of the console (issue 18): real headless Chromium (Debian's `chromium`,
`make apt-tools` installs it) driven by Playwright for Python, against the switch as a real
process with real SIP phones. The interop harness's fixtures (switch, phone_factory, sipp)
are reused from tests/interop/conftest.py.

Playwright never downloads a browser here: it launches /usr/bin/chromium with a fresh empty
profile. Screenshots go to tests/browser/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent / "interop"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
expect.set_options(timeout=10_000)  # two shared cores: live updates can take a moment
SIZES = {"small": (1366, 768), "large": (1920, 1080)}

for path in (INTEROP, HERE.parents[1]):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
_spec = importlib.util.spec_from_file_location("interop_conftest", INTEROP / "conftest.py")
assert _spec is not None and _spec.loader is not None
_interop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_interop)
pytest_configure = _interop.pytest_configure
switch_factory = _interop.switch_factory
switch = _interop.switch
sipp = _interop.sipp
phone_factory = _interop.phone_factory


@pytest.fixture
def page_factory() -> Iterator[Callable[..., Page]]:
    """`page_factory("small")` -> a new tab of that window size in a Chromium with a new empty
    profile (one per test; each tab has its own sessionStorage, so its own log-in)."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        context: BrowserContext = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True)
        errors: list[str] = []

        def make(size: str = "small") -> Page:
            w, h = SIZES[size]
            page = context.new_page()
            page.set_viewport_size({"width": w, "height": h})
            page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}"))
            return page

        try:
            yield make
        finally:
            context.close()
        assert errors == [], f"JavaScript errors in the console: {errors}"
