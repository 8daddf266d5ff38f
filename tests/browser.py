"""A real headless Chromium (Debian's chromium and chromium-driver, installed by `make
system-deps`) for the tests that open reports: without them a test fails, it does not skip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextmanager
def opened(page: Path) -> Iterator[Any]:
    """A Chromium driver showing ``page``, with the browser console logged; quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file() or not shutil.which(p)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: run `make system-deps` (installs Debian's chromium and "
                    "chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(page.as_uri())
        yield driver
    finally:
        driver.quit()
