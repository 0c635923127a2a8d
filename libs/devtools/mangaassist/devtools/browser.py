"""Where the system Chromium is and how to start it headless on this kind of machine.

Shared by the browser tests and the chat-page benchmark. The browser is Debian's
``chromium`` (``make browser`` installs it); Playwright drives it and never downloads one.
"""

from __future__ import annotations

import os
import shutil

# No sandbox (root in a container), no GPU, and no background calls to Google's services,
# which this machine's closed network refuses many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """``MANGAASSIST_CHROMIUM`` if set, else ``chromium`` / ``chromium-browser`` on PATH."""
    return os.environ.get("MANGAASSIST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
