"""Helpers of the console's browser tests."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

SHOTS = Path(__file__).resolve().parent / "screenshots"  # git-ignored


SIZES = ((1366, 768), (1920, 1080))


def shot(page: Page, name: str) -> list[Path]:
    """Screenshots of what the page shows at both sizes (it is given back its own size)."""
    SHOTS.mkdir(exist_ok=True)
    own = page.viewport_size
    paths = []
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        path = SHOTS / f"{name}-{w}.png"
        page.screenshot(path=str(path), full_page=False)
        paths.append(path)
    if own:
        page.set_viewport_size(own)
    return paths
