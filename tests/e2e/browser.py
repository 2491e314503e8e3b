"""Headless Debian Chromium driven through its own chromedriver (no browser or driver download)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=1600,1000",
]


def _find(name: str, *candidates: str) -> str | None:
    return shutil.which(name) or next((c for c in candidates if os.path.exists(c)), None)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    binary = _find("chromium", "/usr/bin/chromium")
    driver = _find("chromedriver", "/usr/bin/chromedriver")
    if not binary or not driver:
        pytest.skip("Debian chromium + chromium-driver not installed (.ci/run installs them)")
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="av-chromium-")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(browser, url: str, expect: list[str], screenshot: Path, timeout: float = 60.0) -> str:
    """Load `url`, dismiss Dagster's first-visit dialog, wait until every `expect` text is visible,
    save a screenshot and return the page's visible text."""
    from selenium.webdriver.common.by import By

    browser.get(url)
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        for button in browser.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            with contextlib.suppress(Exception):
                button.click()
        text = browser.find_element(By.TAG_NAME, "body").text
        if all(e in text for e in expect) and not browser.find_elements(
            By.XPATH, "//button[normalize-space()='Skip']"
        ):
            break
        time.sleep(0.5)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(screenshot))
    return text
