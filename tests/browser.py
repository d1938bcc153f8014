"""Headless Chromium for tests: Debian's chromium and chromium-driver through selenium.

Reuse the fixtures by importing them into a test module (tests/ is on sys.path):

    from browser import artifacts_fixture, chrome_fixture  # noqa: F401

    def test_page(chrome, artifacts): ...

Selenium Manager is never asked for anything: the driver path is given explicitly and
SE_OFFLINE is set, so no test downloads a browser or a driver.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).parent / "artifacts"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--force-device-scale-factor=1",
    "--lang=en-US",
)

requires_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
)


def start_chrome(width: int = 1280, height: int = 1000, *, user_data: Path) -> Any:
    """A headless Chromium window of the given size (CSS pixels); the caller quits it."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={user_data}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(20)
    return driver


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Exact layout viewport (window-size includes no chrome in headless, but be explicit)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def clear_viewport(driver: Any) -> None:
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(scope="session", name="chrome")
def chrome_fixture() -> Iterator[Any]:
    """One headless Chromium for the session (starting one costs about a second)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = "needs Debian's chromium and chromium-driver (/usr/bin/chromium)"
        if os.environ.get("NEWSLETTER_REQUIRE_BROWSER"):
            pytest.fail(reason + "; NEWSLETTER_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    user_data = Path(tempfile.mkdtemp(prefix="newsletter-chromium-"))
    driver = start_chrome(user_data=user_data)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(user_data, ignore_errors=True)


@pytest.fixture(scope="session", name="artifacts")
def artifacts_fixture() -> Path:
    """tests/artifacts/ (git-ignored): screenshots to look at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def rgb(css: str) -> tuple[int, int, int]:
    """'rgb(1, 2, 3)' or 'rgba(1, 2, 3, 1)' from getComputedStyle as a tuple."""
    inside = css[css.index("(") + 1 : css.index(")")]
    parts = [p.strip() for p in inside.replace("/", ",").split(",")]
    return int(float(parts[0])), int(float(parts[1])), int(float(parts[2]))
