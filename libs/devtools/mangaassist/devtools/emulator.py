"""Run the Bedrock emulator as a child process (for tests and benchmarks) and talk to its controls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from mangaassist.devtools.cluster import free_port, http_health
from mangaassist.devtools.procs import stop_process


class EmulatorProcess:
    """``python -m mangaassist.bedrock_emulator`` on an ephemeral port (or ``port``: the one a
    killed emulator had, to start it again where its clients look), zero latency unless told."""

    def __init__(self, log: Path, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mangaassist.bedrock_emulator"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "MANGAASSIST_BEDROCK_EMULATOR_PORT": str(self.port),
                    "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
                    **env,
                },
            )
        deadline = time.monotonic() + 30
        while http_health(self.url + "/_emulator/health")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("bedrock emulator did not start:\n" + log.read_text())
            time.sleep(0.05)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            out: dict[str, Any] = json.loads(resp.read())
            return out

    def stats(self) -> dict[str, Any]:
        return stats(self.url)

    def reset(self) -> None:
        self.post("/_emulator/reset")

    def faults(self, *rules: dict[str, Any]) -> None:
        """Replace the fault rules, e.g. ``faults({"model": "sonnet", "fault": "throttle"})``."""
        self.post("/_emulator/faults", {"rules": list(rules)})

    def stop(self) -> None:
        stop_process(self.proc)

    def kill(self) -> None:
        """SIGKILL, as a crash: no drain, its connections reset."""
        self.proc.kill()
        self.proc.wait()


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_emulator/stats", timeout=5) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


def set_faults(url: str, *rules: dict[str, Any]) -> None:
    req = urllib.request.Request(
        url + "/_emulator/faults", data=json.dumps({"rules": list(rules)}).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()
