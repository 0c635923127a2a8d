"""Fixtures: a real Bedrock emulator process on an ephemeral port (zero latency)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mangaassist.devtools.cluster import free_port, http_health


def start_emulator(log: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mangaassist.bedrock_emulator"], stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "MANGAASSIST_BEDROCK_EMULATOR_PORT": str(port),
             "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero", **env},
    )
    out.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while http_health(url + "/_emulator/health")[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("bedrock emulator did not start:\n" + log.read_text())
        time.sleep(0.05)
    return proc, url


@pytest.fixture(scope="session")
def emulator_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield url
    proc.terminate()
    proc.wait(10)
