"""The model-reachability state machine (reachability.py) on scripted probes, no sockets.

The probe and the sleep are test doubles (``ScriptedProbe``, ``Steps``): each probe answers
from a script, and each wait between probes is released by the test, so the order of
events is exact and nothing depends on a stopwatch.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from mangaassist.inference.reachability import Reachability, is_connection_failure

REFUSED = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


class ScriptedProbe:
    """Fake probe: answers True/False from ``script`` in order (the last answer repeats)."""

    def __init__(self, *script: bool) -> None:
        self.script = list(script)
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class Steps:
    """Fake sleep: records each requested wait and blocks until the test releases it."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self._release.wait()
        self._release.clear()

    def release(self) -> None:
        self._release.set()


class Health:
    """Fake health service: the statuses published, in order."""

    def __init__(self) -> None:
        self.published: list[bool] = []

    async def __call__(self, reachable: bool) -> None:
        self.published.append(reachable)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def machine(probe: ScriptedProbe, steps: Steps | None = None, rand: float = 0.5) -> Reachability:
    return Reachability(probe, interval_s=0.5, jitter=0.2, sleep=steps or Steps(), rand=lambda: rand)


@pytest.mark.parametrize(
    "exc",
    [
        REFUSED,
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
        ResponseStreamingError(error="cut"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("cut"),
        ConnectionResetError(),
    ],
)
def test_connection_level_failures_count(exc: BaseException) -> None:
    assert is_connection_failure(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ClientError({"Error": {"Code": "ValidationException"}}, "ConverseStream"),
        ClientError({"Error": {"Code": "ThrottlingException"}}, "ConverseStream"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        aiohttp.ServerTimeoutError(),
        TimeoutError(),
        ValueError("bad request"),
    ],
)
def test_model_answers_and_slow_reads_do_not(exc: BaseException) -> None:
    assert not is_connection_failure(exc)


async def test_a_refused_call_and_a_failed_probe_turn_not_serving_until_a_probe_connects() -> None:
    probe, steps, health = ScriptedProbe(False, False, True), Steps(), Health()
    r = machine(probe, steps)
    r.report_to(health)
    r.failed(REFUSED)
    await settle()
    assert not r.reachable and health.published == [False] and probe.calls == 1
    assert steps.waits == [0.5]  # rand 0.5: no jitter either way
    r.failed(REFUSED)  # more failures while probing start nothing new
    steps.release()
    await settle()
    assert probe.calls == 2 and not r.reachable
    steps.release()
    await settle()
    assert probe.calls == 3 and r.reachable and health.published == [False, True]
    assert not r.checking


async def test_a_single_error_with_the_endpoint_up_does_not_flap() -> None:
    probe, health = ScriptedProbe(True), Health()
    r = machine(probe)
    r.report_to(health)
    r.failed(ConnectionClosedError(endpoint_url="http://127.0.0.1:1"))  # a stale pooled connection
    await settle()
    r.succeeded()
    await settle()
    assert probe.calls == 1 and r.reachable and health.published == [] and not r.checking


async def test_a_successful_call_serves_at_once_and_stops_the_probes() -> None:
    probe, steps, health = ScriptedProbe(False), Steps(), Health()
    r = machine(probe, steps)
    r.report_to(health)
    r.failed(REFUSED)
    await settle()
    assert health.published == [False] and r.checking
    r.succeeded()
    await settle()
    assert r.reachable and health.published == [False, True] and not r.checking
    steps.release()
    await settle()
    assert probe.calls == 1  # no probe after the success


async def test_model_side_errors_start_no_probe() -> None:
    probe = ScriptedProbe(False)
    r = machine(probe)
    r.failed(ClientError({"Error": {"Code": "ThrottlingException"}}, "ConverseStream"))
    r.failed(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"))
    await settle()
    assert probe.calls == 0 and r.reachable and not r.checking


@pytest.mark.parametrize(("rand", "wait"), [(0.0, 0.4), (1.0, 0.6)])
async def test_probes_are_jittered_within_a_fifth_of_the_interval(rand: float, wait: float) -> None:
    steps = Steps()
    r = machine(ScriptedProbe(False), steps, rand=rand)
    r.failed(REFUSED)
    await settle()
    assert steps.waits == [pytest.approx(wait)]
    await r.close()


async def test_nothing_is_published_before_the_server_serves_then_the_latest_state_is() -> None:
    probe, health = ScriptedProbe(False), Health()
    r = machine(probe)
    r.failed(REFUSED)  # during the warm-up
    await settle()
    assert not r.reachable and health.published == []
    r.report_to(health)
    await settle()
    assert health.published == [False]
    await r.close()
    assert not r.checking
