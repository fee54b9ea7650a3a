"""Helpers of the console's browser tests."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

SHOTS = Path(__file__).resolve().parent / "screenshots"  # git-ignored


def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    w = page.viewport_size["width"] if page.viewport_size else 0
    path = SHOTS / f"{name}-{w}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
