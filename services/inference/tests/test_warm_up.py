"""Pre-warm and readiness: the service process says SERVING only after its 1-token Haiku
request (or a bounded wait) and once every configured model has answered; a model Bedrock
refuses keeps it NOT_SERVING, loudly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mangaassist.devtools.cluster import free_port, grpc_status
from mangaassist.devtools.emulator import EmulatorProcess

pytestmark = pytest.mark.integration

SERVICE = "mangaassist.inference.v1.InferenceService"


def start(emulator_url: str, log: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mangaassist.inference"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "MANGAASSIST_INFERENCE_PORT": str(port),
                "MANGAASSIST_INFERENCE_BEDROCK_ENDPOINT_URL": emulator_url,
                **env,
            },
        )
    return proc, port


def run_until_serving(emulator_url: str, log: Path, **env: str) -> tuple[float, str]:
    proc, port = start(emulator_url, log, **env)
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
        # Haiku once per client (the pre-warm, which also proves Haiku), then Sonnet's check.
        assert emulator.stats()["by_operation"] == {"Converse": 3}
        assert emulator.stats()["by_model"] == {"haiku": 2, "sonnet": 1}
        emulator.reset()
        run_until_serving(emulator.url, tmp_path / "checks.log", MANGAASSIST_INFERENCE_PREWARM="false")
        assert emulator.stats()["by_model"] == {"haiku": 1, "sonnet": 1}  # readiness checks only
        emulator.reset()
        run_until_serving(
            emulator.url,
            tmp_path / "off.log",
            MANGAASSIST_INFERENCE_PREWARM="false",
            MANGAASSIST_INFERENCE_REQUIRE_MODELS="false",
        )
        assert emulator.stats()["requests"] == 0
    finally:
        emulator.stop()


def test_a_hanging_warm_up_is_bounded(tmp_path: Path) -> None:
    emulator = EmulatorProcess(
        tmp_path / "emulator.log", MANGAASSIST_BEDROCK_EMULATOR_FAULTS='{"haiku": "slow-first-token=20000"}'
    )
    try:
        waited, log = run_until_serving(
            emulator.url, tmp_path / "slow.log", MANGAASSIST_INFERENCE_WARM_UP_TIMEOUT_S="1"
        )
        assert "pre-warm did not finish" in log
        assert waited < 15
    finally:
        emulator.stop()


def test_a_model_bedrock_refuses_keeps_the_service_not_serving_and_says_why(tmp_path: Path) -> None:
    """A wrong or retired model id: no SERVING (the health checks fail the deploy), an error log
    naming the model, retries; SIGTERM still drains promptly; SERVING once the id is right."""
    emulator = EmulatorProcess(tmp_path / "emulator.log")
    log = tmp_path / "refused.log"
    try:
        proc, port = start(
            emulator.url,
            log,
            MANGAASSIST_INFERENCE_SONNET_MODEL_ID="anthropic.claude-v2:1",
            MANGAASSIST_INFERENCE_MODEL_CHECK_BACKOFF_MAX_S="0.5",
        )
        try:
            deadline = time.monotonic() + 30
            while log.read_text().count("model unreachable") < 3:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                assert grpc_status(f"127.0.0.1:{port}", SERVICE) != "SERVING"
                time.sleep(0.1)
            text = log.read_text()
            assert "anthropic.claude-v2:1" in text and "ValidationException" in text
            assert '"level": "ERROR"' in text
        finally:
            stopped = time.monotonic()
            proc.terminate()
            assert proc.wait(20) == 0
            assert time.monotonic() - stopped < 10
        waited, _ = run_until_serving(emulator.url, tmp_path / "fixed.log")
        assert waited < 30
    finally:
        emulator.stop()


def test_an_unreachable_endpoint_keeps_the_service_not_serving(tmp_path: Path) -> None:
    log = tmp_path / "unreachable.log"
    proc, port = start(f"http://127.0.0.1:{free_port()}", log, MANGAASSIST_INFERENCE_WARM_UP_TIMEOUT_S="2")
    try:
        deadline = time.monotonic() + 30
        while "model unreachable" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert grpc_status(f"127.0.0.1:{port}", SERVICE) == "NOT_SERVING"
        assert "EndpointConnectionError" in log.read_text()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
