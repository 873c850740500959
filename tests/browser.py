"""Debian's Chromium for the Playwright tests: where it is and how it is launched here."""

CHROMIUM = "/usr/bin/chromium"
# Headless as root on a machine with no network beyond loopback: no sandbox, no background calls.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
