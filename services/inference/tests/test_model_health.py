"""Health follows the model: real processes on real sockets (ephemeral ports, temp dirs).

The inference service runs as its own process against the Bedrock emulator's process. The
emulator is killed (SIGKILL), a question fails, and the service's gRPC health turns
NOT_SERVING; the emulator starts again on the same port and health is SERVING again within
a couple of probe intervals — what lets the orchestrator's breakers close at once. The
emulator is stopped (SIGSTOP: it still accepts TCP, never answers) under a waiting question,
and health turns NOT_SERVING within a couple of seconds and SERVING again soon after
SIGCONT; a model that is only slow to its first token keeps it SERVING.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
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


def test_health_follows_a_stopped_model_and_not_a_slow_one(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "emulator.log")
    log = tmp_path / "inference.log"
    proc, port = start(emulator.url, log)
    address = f"127.0.0.1:{port}"
    outcomes: list[grpc.StatusCode] = []

    def ask_in_background() -> threading.Thread:
        thread = threading.Thread(target=lambda: outcomes.append(ask(port)), daemon=True)
        thread.start()
        return thread

    try:
        until(lambda: grpc_status(address, SERVICE) == "SERVING", 60)

        # Slow, not gone: 2.5 s to the first token (the silence starts probes, each answered).
        emulator.faults({"model": "*", "fault": "slow-first-token=2500"})
        slow = ask_in_background()
        seen = set()
        while slow.is_alive():
            seen.add(grpc_status(address, SERVICE))
            time.sleep(0.05)
        assert outcomes == [grpc.StatusCode.OK] and seen == {"SERVING"}
        emulator.faults()

        # Stopped: the kernel still accepts its connections; nothing answers.
        os.kill(emulator.proc.pid, signal.SIGSTOP)
        try:
            waiting = ask_in_background()
            down_after = until(lambda: grpc_status(address, SERVICE) == "NOT_SERVING", 8)
            assert grpc_status(address, "") == "SERVING"  # the process itself is alive (ECS's check)
            time.sleep(1.5)  # several probes, none answered: it stays NOT_SERVING
            assert grpc_status(address, SERVICE) == "NOT_SERVING"
        finally:
            os.kill(emulator.proc.pid, signal.SIGCONT)
        back_after = until(lambda: grpc_status(address, SERVICE) == "SERVING", 5)
        waiting.join(15)
        assert outcomes[1:] == [grpc.StatusCode.OK]  # the question that waited is answered after SIGCONT
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
        emulator.stop()
    # 1 s of silence, then two probes with 1 s each to be answered; back at the first answer after SIGCONT.
    assert down_after < 5.0, down_after  # 3.0 s on a quiet box
    assert back_after < 2.0, back_after
    text = log.read_text()
    assert text.count("model endpoint unreachable or silent") == 1  # the stop, not the slow answer
    assert "model endpoint reachable again" in text
    assert "health-drill" not in text  # no customer text in the logs


async def test_the_probe_asks_for_an_http_answer_not_just_a_connection() -> None:
    async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")  # any status is an answer
        await writer.drain()
        writer.close()

    held: list[asyncio.StreamWriter] = []

    async def never_answers(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts the connection and reads nothing: a stopped endpoint

    server = await asyncio.start_server(answers, "127.0.0.1", 0)
    silent = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port, silent_port = server.sockets[0].getsockname()[1], silent.sockets[0].getsockname()[1]
    try:
        assert await endpoint_probe(f"http://127.0.0.1:{port}", 1.0)()
        started = time.monotonic()
        assert not await endpoint_probe(f"http://127.0.0.1:{silent_port}", 0.3)()
        assert time.monotonic() - started < 2.0  # bounded by its timeout
    finally:
        for s in (server, silent):
            s.close()
        for w in held:
            w.close()
        await server.wait_closed()
        await silent.wait_closed()
    assert not await endpoint_probe(f"http://127.0.0.1:{port}", 1.0)()  # nothing listens
