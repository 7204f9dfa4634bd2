"""What the console's browser tests share: headless Debian Chromium, signing in, screenshots.

Both binaries are Debian's (`.ci/run` installs chromium and chromium-driver); nothing is
downloaded. Screenshots go to SCIM_BRIDGE_ARTIFACTS_DIR, else the test's temporary directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "correct horse battery staple"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = (1280, 900)
PHONE = (390, 844)
#: The longest a test waits for the page to show something.
WAIT_SECONDS = 30

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium chromium-driver)"
)


def shots_dir(tmp_path: Path, name: str) -> Path:
    """Return (and make) the directory a test's screenshots go to, and say where it is."""
    shots = Path(os.environ.get("SCIM_BRIDGE_ARTIFACTS_DIR") or tmp_path) / name
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {shots}", file=sys.stderr)
    return shots


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, driven through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, predicate: Any) -> None:
    """Wait until the page satisfies ``predicate`` (bounded; fails with the page's title).

    A wait often spans a navigation (a form posted, then its redirect): an element found on
    the page being left goes stale before its text is read, and a fresh page may not hold
    it yet. Both mean "not yet" and the wait looks again; only the time bound fails it.
    (Seen in CI: StaleElementReferenceException reading #sync-state after "Sync now".)"""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    not_yet = (NoSuchElementException, StaleElementReferenceException)
    wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2, ignored_exceptions=not_yet)
    wait.until(predicate, driver.title)


def text_of(driver: Any, css: str) -> str:
    """Return the visible text of the first element matching ``css``."""
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def has(driver: Any, css: str) -> bool:
    """Say whether the page holds an element matching ``css``."""
    from selenium.webdriver.common.by import By

    return bool(driver.find_elements(By.CSS_SELECTOR, css))


def sign_in(driver: Any, url: str, name: str) -> None:
    """Sign in to the console at ``url`` as ``name`` and wait for the overview."""
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{url}/admin/")
    wait_for(driver, lambda d: "/admin/login" in d.current_url)
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: has(d, "h1") and text_of(d, "h1") == "Overview")


def screenshot(driver: Any, shots: Path, name: str) -> None:
    """Save the page at desktop and phone sizes."""
    for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(width, height)
        driver.save_screenshot(str(shots / f"{name}-{label}.png"))
    driver.set_window_size(*DESKTOP)
