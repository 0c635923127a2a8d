"""Stopping a child process the one way every stand-in and cluster part is stopped."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> int:
    """SIGTERM ``proc`` (if still running) and wait up to ``timeout_s``; SIGKILL if it will
    not stop. Returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)
