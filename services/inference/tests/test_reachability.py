"""The model-reachability state machine (reachability.py) on scripted probes, no sockets.

The probe, the sleep and the clock are test doubles (``ScriptedProbe``, ``Steps``, ``Clock``):
each probe answers from a script, each wait between probes is released by the test, and the
silence check (``look``) reads a clock the test moves, so the order of events is exact and
nothing depends on a stopwatch (but the one test of the timer that runs ``look``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

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
    """Fake probe: answers True/False from ``script`` in order (the last answer repeats);
    ``meanwhile`` runs inside each probe (what happens while it waits for its answer)."""

    def __init__(self, *script: bool, meanwhile: Callable[[], None] | None = None) -> None:
        self.script = list(script)
        self.calls = 0
        self.meanwhile = meanwhile

    async def __call__(self) -> bool:
        self.calls += 1
        if self.meanwhile is not None:
            self.meanwhile()
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class Clock:
    """Fake monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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


def machine(
    probe: ScriptedProbe, steps: Steps | None = None, rand: float = 0.5, clock: Clock | None = None
) -> Reachability:
    return Reachability(
        probe,
        interval_s=0.5,
        stall_s=1.0,
        jitter=0.2,
        sleep=steps or Steps(),
        rand=lambda: rand,
        clock=clock or Clock(),
    )


Silent = tuple[Clock, ScriptedProbe, Reachability]


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    """A watched endpoint on a test clock whose probe never connects; closed after the test."""
    clock = Clock()
    probe = ScriptedProbe(False)
    r = machine(probe, clock=clock)
    yield clock, probe, r
    await r.close()


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


async def test_a_refused_call_and_two_failed_probes_turn_not_serving_until_a_probe_connects() -> None:
    probe, steps, health = ScriptedProbe(False, False, False, True), Steps(), Health()
    r = machine(probe, steps)
    r.report_to(health)
    r.failed(REFUSED)
    await settle()
    # The second probe follows the first at once; both failed: NOT_SERVING, then a wait.
    assert not r.reachable and health.published == [False] and probe.calls == 2
    assert steps.waits == [0.5]  # rand 0.5: no jitter either way
    r.failed(REFUSED)  # more failures while probing start nothing new
    steps.release()
    await settle()
    assert probe.calls == 3 and not r.reachable
    steps.release()
    await settle()
    assert probe.calls == 4 and r.reachable and health.published == [False, True]
    assert not r.checking


async def test_one_failed_probe_followed_by_an_answered_one_does_not_flap() -> None:
    probe, health = ScriptedProbe(False, True), Health()
    r = machine(probe)
    r.report_to(health)
    r.failed(REFUSED)
    await settle()
    assert probe.calls == 2 and r.reachable and health.published == [] and not r.checking


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
    assert probe.calls == 2  # no probe after the success


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


# A stopped endpoint (SIGSTOP of the emulator, a Bedrock front end that accepts and never
# answers): the TCP connect succeeds, nothing comes back. Only silence while calls wait
# tells it, and the probe decides between "slow" and "silent".


async def test_a_silence_while_calls_wait_and_unanswered_probes_turn_not_serving_until_one_is_answered() -> None:
    clock, steps, health = Clock(), Steps(), Health()
    probe = ScriptedProbe(False, False, False, True)
    r = machine(probe, steps, clock=clock)
    r.report_to(health)
    r.call_started()
    clock.now += 0.6
    assert r.look() == pytest.approx(0.4)  # not silent long enough: look again in 0.4 s
    await settle()
    assert probe.calls == 0
    r.call_started()  # a question arriving meanwhile is not something heard from the endpoint
    clock.now += 0.4
    assert r.look() == 1.0
    await settle()
    assert probe.calls == 2 and not r.reachable and health.published == [False] and r.silences == 1
    steps.release()
    await settle()
    assert probe.calls == 3 and not r.reachable
    steps.release()
    await settle()
    assert probe.calls == 4 and r.reachable and health.published == [False, True] and not r.checking
    await r.close()


async def test_a_slow_first_token_asks_the_probe_and_does_not_flap() -> None:
    clock, health = Clock(), Health()
    probe = ScriptedProbe(True)  # the front door answers: the model is slow, not gone
    r = machine(probe, clock=clock)
    r.report_to(health)
    r.call_started()
    for _ in range(3):  # three seconds to the first token: a probe a second, each answered
        clock.now += 1.0
        assert r.look() == 1.0
        await settle()
    r.heard()
    r.call_ended()
    assert probe.calls == 3 and r.reachable and health.published == []
    await r.close()


async def test_stream_events_keep_the_silence_from_starting(silent: Silent) -> None:
    clock, probe, r = silent
    r.call_started()
    for _ in range(10):  # a long answer: an event every 0.3 s
        clock.now += 0.3
        r.heard()
        assert r.look() == pytest.approx(1.0)
    await settle()
    assert probe.calls == 0 and r.reachable


async def test_no_call_waiting_is_no_silence(silent: Silent) -> None:
    clock, probe, r = silent
    r.call_started()
    r.call_ended()
    clock.now += 60.0  # an idle minute
    assert r.look() is None
    r.call_started()  # the next question starts a new watch: the idle minute is not a silence
    assert r.look() == pytest.approx(1.0)
    await settle()
    assert probe.calls == 0 and r.reachable


async def test_a_probe_that_times_out_while_streams_still_flow_does_not_turn_not_serving() -> None:
    clock, health = Clock(), Health()
    r: Reachability

    def others_stream() -> None:  # the box is loaded: the probe times out, other answers flow
        clock.now += 1.0
        r.heard()

    probe = ScriptedProbe(False, meanwhile=others_stream)
    r = machine(probe, clock=clock)
    r.report_to(health)
    r.call_started()
    clock.now += 1.0
    r.look()
    await settle()
    assert probe.calls == 1 and r.reachable and health.published == [] and not r.checking
    await r.close()


async def test_anything_heard_while_not_serving_serves_at_once() -> None:
    clock, steps, health = Clock(), Steps(), Health()
    probe = ScriptedProbe(False)
    r = machine(probe, steps, clock=clock)
    r.report_to(health)
    r.call_started()
    clock.now += 1.0
    r.look()
    await settle()
    assert health.published == [False]
    clock.now += 5.0
    r.heard()  # SIGCONT: the stalled stream goes on
    await settle()
    assert r.reachable and health.published == [False, True] and not r.checking
    steps.release()
    await settle()
    assert probe.calls == 2  # the two that turned it, none after
    await r.close()


async def test_the_timer_looks_while_calls_wait() -> None:
    published = asyncio.Event()

    async def health(reachable: bool) -> None:
        if not reachable:
            published.set()

    r = Reachability(ScriptedProbe(False), interval_s=10.0, stall_s=0.02)
    r.report_to(health)
    r.call_started()  # and nothing ever comes back
    await asyncio.wait_for(published.wait(), 5.0)
    assert not r.reachable and r.silences == 1
    await r.close()


async def test_a_late_look_is_no_silence(silent: Silent) -> None:
    # This process was not run for 0.8 s (a starved box): what the endpoint sent may be unread.
    clock, probe, r = silent
    r.call_started()
    clock.now += 1.8
    assert r.look(late_s=0.8) == 0.1  # look again after the loop's I/O
    await settle()
    assert probe.calls == 0 and r.silences == 0
    assert r.look(late_s=0.0) == 1.0  # on time and still silent: the probes start
    await settle()
    assert probe.calls == 2


async def test_a_probe_that_timed_out_late_is_not_counted() -> None:
    clock, steps, health = Clock(), Steps(), Health()
    late = [True, True, False, False]  # the first two probes end 1.0 s past their 1 s timeout

    def meanwhile() -> None:
        clock.now += 2.0 if late.pop(0) else 1.0

    probe = ScriptedProbe(False, meanwhile=meanwhile)
    r = machine(probe, steps, clock=clock)
    r.report_to(health)
    r.failed(REFUSED)
    await settle()
    # Two late probes not counted, then two on time: NOT_SERVING after the fourth.
    assert probe.calls == 4 and health.published == [False]
    await r.close()
