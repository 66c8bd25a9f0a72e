"""Drive a headless Chromium over a report (tests and the README screenshot). Needs ``selenium`` (the
``test`` extra) and Debian's ``chromium`` + ``chromium-driver``; never imported by the report builder.

The browser runs isolated: a fresh profile, no background networking, no component updates, no sync, and
a performance log so that callers can check that the page made no request but its own file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars")


def _which(candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        found = shutil.which(c) or (c if Path(c).is_file() else None)
        if found:
            return found
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900, dark: bool = False) -> Iterator["object"]:
    """A selenium Chrome driver on a headless Chromium with a throw-away profile; quits on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _which(CHROMIUM), _which(CHROMEDRIVER)
    if binary is None or driver_path is None:
        raise RuntimeError("Chromium or chromedriver not found: apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="pjbench-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    if dark:
        opts.add_argument("--force-dark-mode")
        opts.add_argument("--blink-settings=preferredColorScheme=0")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver) -> list[str]:
    """URLs of every network request the page issued since the last call (from the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(html: str | Path, png: str | Path, *, width: int = 1100, height: int = 900) -> Path:
    """Open ``html`` (a file) and save a PNG of the top of the page at ``width`` × ``height`` pixels."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with chromium(width=width, height=height) as driver:
        driver.get(Path(html).resolve().as_uri())
        driver.save_screenshot(str(png))
    return png
