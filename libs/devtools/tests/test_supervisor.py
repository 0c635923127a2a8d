"""The supervisor's restart policy, on fake processes and a fake clock (no process started)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from mangaassist.devtools.supervisor import Backoff, Supervisor


@dataclass
class FakeProc:
    pid: int
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeCluster:
    procs: dict[str, Any] = field(default_factory=dict)
    serving: bool = False
    spawned: list[str] = field(default_factory=list)

    def spawn(self, name: str) -> FakeProc:
        self.spawned.append(name)
        proc = FakeProc(pid=1000 + len(self.spawned))
        self.procs[name] = proc
        return proc

    def is_serving(self, name: str) -> bool:
        return self.serving


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(*names: str) -> tuple[FakeCluster, Clock, Supervisor]:
    cluster = FakeCluster(procs={n: FakeProc(pid=i) for i, n in enumerate(names)})
    clock = Clock()
    sup = Supervisor(cluster, Backoff(initial_s=0.5, factor=2, max_s=4, stable_s=30), clock=clock)  # type: ignore[arg-type]
    return cluster, clock, sup


def crash(cluster: FakeCluster, name: str, code: int = -9) -> None:
    cluster.procs[name].returncode = code


def test_a_crashed_part_is_restarted_after_its_delay_and_the_others_are_left_alone() -> None:
    cluster, clock, sup = make("redis", "inference", "intent")
    intent = cluster.procs["intent"]
    crash(cluster, "redis")
    assert sup.poll() == []  # noticed; the first restart waits initial_s
    clock.now += 0.4
    assert sup.poll() == []
    clock.now += 0.1
    assert sup.poll() == ["redis"]
    assert cluster.spawned == ["redis"] and cluster.procs["intent"] is intent
    assert sup.parts["redis"].restarts == 1


def test_crashes_in_a_row_double_the_delay_up_to_the_cap_and_a_stable_run_resets_it() -> None:
    cluster, clock, sup = make("inference")
    delays = []
    for _ in range(5):
        crash(cluster, "inference")
        sup.poll()
        waited = 0.0
        while not sup.poll():
            clock.now += 0.25
            waited += 0.25
        delays.append(waited)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0]
    clock.now += 31  # stayed up past stable_s: the next crash starts a new streak
    crash(cluster, "inference")
    sup.poll()
    assert sup.parts["inference"].streak == 1
    clock.now += 0.5
    assert sup.poll() == ["inference"]


def test_each_exit_restart_and_recovery_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    cluster, clock, sup = make("redis")
    caplog.set_level(logging.INFO, "mangaassist.devtools.supervisor")
    crash(cluster, "redis", code=-9)
    sup.poll()
    clock.now += 1
    sup.poll()
    cluster.serving = True
    clock.now += 1.5
    sup.poll()
    sup.poll()  # reported once
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "redis (pid 0) exited with code -9; restarting in 0.5 s" in messages[0]
    assert messages[1].startswith("restarted redis (pid 1001, restart 1)")
    assert messages[2] == "redis is serving again (1.5 s after its restart)"


def test_nothing_is_restarted_once_stopping() -> None:
    cluster, clock, sup = make("redis")
    crash(cluster, "redis")
    sup.poll()
    clock.now += 10
    assert sup.poll(stopping=lambda: True) == []
    assert cluster.spawned == []


def test_a_part_that_cannot_be_spawned_is_retried_with_a_longer_delay() -> None:
    cluster, clock, sup = make("aws")
    calls = []

    def broken_spawn(name: str) -> FakeProc:
        calls.append(name)
        raise OSError("no such file")

    cluster.spawn = broken_spawn  # type: ignore[method-assign]
    crash(cluster, "aws")
    sup.poll()
    clock.now += 0.5
    assert sup.poll() == []  # spawn failed
    sup.poll()  # noticed as another quick exit: 1 s now
    assert sup.parts["aws"].streak == 2
    clock.now += 1.0
    sup.poll()
    assert len(calls) == 2


def test_run_returns_when_stopped() -> None:
    _, _, sup = make("redis")
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop, 0.01))
    thread.start()
    stop.set()
    thread.join(2)
    assert not thread.is_alive()


def test_a_held_part_is_restarted_only_once_its_hold_is_over() -> None:
    cluster, clock, sup = make("bedrock_emulator", "intent")
    assert sup.hold("bedrock_emulator", 5.0) == 105.0
    crash(cluster, "bedrock_emulator")
    assert sup.poll() == []
    assert sup.parts["bedrock_emulator"].restart_at == 105.0  # not 100.5: the backoff alone
    clock.now += 4.9
    assert sup.poll() == []
    clock.now += 0.1
    assert sup.poll() == ["bedrock_emulator"]
    crash(cluster, "intent")  # never held: its backoff only
    sup.poll()
    clock.now += 0.5
    assert sup.poll() == ["intent"]


def test_a_hold_shorter_than_the_backoff_changes_nothing_and_an_old_hold_is_spent() -> None:
    cluster, clock, sup = make("inference")
    sup.hold("inference", 0.2)
    crash(cluster, "inference")
    sup.poll()
    assert sup.parts["inference"].restart_at == 100.5
    clock.now += 0.5
    assert sup.poll() == ["inference"]
    clock.now += 60  # up past stable_s, the hold long over: the next crash waits its backoff only
    crash(cluster, "inference")
    sup.poll()
    clock.now += 0.5
    assert sup.poll() == ["inference"]


def test_a_hold_placed_after_the_exit_was_noticed_still_keeps_the_part_away() -> None:
    cluster, clock, sup = make("retrieval")
    crash(cluster, "retrieval")
    sup.poll()  # restart due at 100.5
    sup.hold("retrieval", 3.0)
    clock.now += 2.9
    assert sup.poll() == []
    clock.now += 0.1
    assert sup.poll() == ["retrieval"]


def test_a_held_exit_is_logged_with_its_whole_wait(caplog: pytest.LogCaptureFixture) -> None:
    cluster, _, sup = make("redis")
    caplog.set_level(logging.INFO, "mangaassist.devtools.supervisor")
    sup.hold("redis", 5.0)
    crash(cluster, "redis", code=-9)
    sup.poll()
    assert "redis (pid 0) exited with code -9; restarting in 5.0 s (crash 1 in a row, held)" in caplog.text
