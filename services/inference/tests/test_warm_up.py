"""Pre-warm: the service process says SERVING only after its 1-token Haiku request (or a bounded wait)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mangaassist.devtools.cluster import free_port, grpc_status
from mangaassist.devtools.emulator import EmulatorProcess

SERVICE = "mangaassist.inference.v1.InferenceService"


def run_until_serving(emulator_url: str, log: Path, **env: str) -> tuple[float, str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mangaassist.inference"], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "MANGAASSIST_INFERENCE_PORT": str(port),
                 "MANGAASSIST_INFERENCE_BEDROCK_ENDPOINT_URL": emulator_url, **env},
        )
    started = time.monotonic()
    try:
        while grpc_status(f"127.0.0.1:{port}", SERVICE) != "SERVING":
            assert proc.poll() is None and time.monotonic() - started < 60, log.read_text()
            time.sleep(0.05)
        return time.monotonic() - started, log.read_text()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_serving_only_after_the_warm_up_request(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "emulator.log")
    try:
        run_until_serving(emulator.url, tmp_path / "on.log")
        assert emulator.stats()["by_operation"] == {"Converse": 2}  # one per client
        assert emulator.stats()["by_model"] == {"haiku": 2}
        emulator.reset()
        run_until_serving(emulator.url, tmp_path / "off.log", MANGAASSIST_INFERENCE_PREWARM="false")
        assert emulator.stats()["requests"] == 0
    finally:
        emulator.stop()


def test_a_hanging_warm_up_is_bounded(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "emulator.log",
                               MANGAASSIST_BEDROCK_EMULATOR_FAULTS='{"haiku": "slow-first-token=20000"}')
    try:
        waited, log = run_until_serving(emulator.url, tmp_path / "slow.log",
                                        MANGAASSIST_INFERENCE_WARM_UP_TIMEOUT_S="1")
        assert "pre-warm did not finish" in log
        assert waited < 15
    finally:
        emulator.stop()
