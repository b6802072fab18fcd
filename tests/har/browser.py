#!/usr/bin/env python3
"""Runs page.html in headless Debian chromium through Playwright, recording a HAR.

    python3 browser.py http://127.0.0.1:PORT/ OUT.har

No browser download: Debian's /usr/bin/chromium (or $CHROMIUM) is launched directly.
"""
import os
import sys

from playwright.sync_api import sync_playwright

url, out = sys.argv[1], sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run"],
    )
    ctx = browser.new_context(record_har_path=out)
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function("window.done === true", timeout=20000)
    ctx.close()  # writes the HAR
    browser.close()
print("done", flush=True)
