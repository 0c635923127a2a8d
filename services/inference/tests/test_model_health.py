"""Health follows the model: real processes on real sockets (ephemeral ports, temp dirs).

The inference service runs as its own process against the Bedrock emulator's process. The
emulator is killed (SIGKILL), a question fails, and the service's gRPC health turns
NOT_SERVING; the emulator starts again on the same port and health is SERVING again within
a couple of probe intervals — what lets the orchestrator's breakers close at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from mangaassist.devtools.cluster import grpc_status
from mangaassist.devtools.emulator import EmulatorProcess
from mangaassist.inference.reachability import endpoint_probe
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc
from services.inference.tests.test_warm_up import SERVICE, start

pytestmark = pytest.mark.integration
QUESTION = "おすすめのダークファンタジーは？ health-drill"


def ask(port: int) -> grpc.StatusCode:
    """One question; OK or the status code it ended with."""
    prompt = inference_pb2.PromptParts(question=QUESTION, language="ja", intent="product_recommendation")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        try:
            for _ in stub.Generate(inference_pb2.GenerateRequest(model="haiku", prompt=prompt), timeout=15):
                pass
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def until(condition: Callable[[], bool], limit_s: float) -> float:
    """Seconds until ``condition`` holds (polled every 20 ms); fails past ``limit_s``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit_s, f"not within {limit_s} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_health_follows_the_model_through_a_kill_and_a_restart(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "emulator-1.log")
    log = tmp_path / "inference.log"
    proc, port = start(emulator.url, log)
    address = f"127.0.0.1:{port}"
    again: EmulatorProcess | None = None
    try:
        until(lambda: grpc_status(address, SERVICE) == "SERVING", 60)
        assert ask(port) == grpc.StatusCode.OK

        emulator.kill()
        assert ask(port) == grpc.StatusCode.UNAVAILABLE  # refused: the call fails, then the probe
        until(lambda: grpc_status(address, SERVICE) == "NOT_SERVING", 5)
        assert grpc_status(address, "") == "SERVING"  # the process itself is alive (ECS's check)
        time.sleep(1.5)  # several probes, all refused: it stays NOT_SERVING
        assert grpc_status(address, SERVICE) == "NOT_SERVING"

        again = EmulatorProcess(tmp_path / "emulator-2.log", port=emulator.port)  # returns once it answers
        back_after = until(lambda: grpc_status(address, SERVICE) == "SERVING", 5)
        assert back_after < 2.0, back_after  # probes every 0.5 s ± 20 %
        assert ask(port) == grpc.StatusCode.OK
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
        for e in (emulator, again):
            if e is not None:
                e.stop()
    text = log.read_text()
    assert "model endpoint unreachable" in text and "model endpoint reachable again" in text
    assert "health-drill" not in text  # no customer text in the logs


async def test_the_probe_connects_to_a_listener_and_not_to_a_closed_port() -> None:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await endpoint_probe(f"http://127.0.0.1:{port}", 1.0)()
    finally:
        server.close()
        await server.wait_closed()
    assert not await endpoint_probe(f"http://127.0.0.1:{port}", 1.0)()
