"""`make up`'s supervisor on real processes: kill -9 a part, it comes back, the chat answers again.

The cluster runs under the same ``Supervisor`` that ``make up`` runs (on a thread here), on a
cluster of its own because its processes are killed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import Cluster, http_health
from mangaassist.devtools.pytest_fixtures import start_cluster, supervising
from mangaassist.devtools.supervisor import Supervisor
from tests.conftest import ask


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Supervisor]]:
    cooldowns = '{"inference": {"cooldown_s": 0.5}, "redis": {"cooldown_s": 0.5}, "dynamodb": {"cooldown_s": 0.5}}'
    cluster = start_cluster(tmp_path_factory.mktemp("supervised-logs"), MANGAASSIST_ORCHESTRATOR_BREAKERS=cooldowns)
    with supervising(cluster) as supervisor:
        yield cluster, supervisor
    codes = cluster.stop()
    assert all(proc.poll() is not None for proc in cluster.procs.values()), codes


async def answered(cluster: Cluster, label: str, timeout_s: float = 30.0) -> dict[str, object]:
    """The first ``done`` of a model-answered question with no fallback, asked until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    async with connect(cluster.ws_url) as ws:
        for attempt in range(10_000):
            frames = await ask(ws, f"おすすめの少年マンガを教えて ({label} {attempt})", request_id=f"{label}-{attempt}")
            if frames[-1]["type"] == "done" and not frames[-1].get("fallbacks"):
                return frames[-1]
            assert time.monotonic() < deadline, frames[-1]
            await asyncio.sleep(0.3)
    raise AssertionError("unreachable")


def children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def alive(pid: str) -> bool:
    """A process that runs (a zombie waiting for init to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def wait_restarted(supervisor: Supervisor, name: str, restarts: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while supervisor.parts[name].restarts < restarts or not await asyncio.to_thread(
        supervisor.cluster.is_serving, name
    ):
        assert time.monotonic() < deadline, f"{name} did not come back"
        await asyncio.sleep(0.2)


# aws: the DynamoDB stand-in keeps its tables in memory; the orchestrator provisions them
# again when it finds one missing, so sessions work again without a session fallback.
@pytest.mark.parametrize("victim", ["redis", "inference", "aws"])
async def test_a_killed_part_is_restarted_and_the_chat_answers_again(
    supervised: tuple[Cluster, Supervisor], victim: str, caplog: pytest.LogCaptureFixture
) -> None:
    cluster, supervisor = supervised
    caplog.set_level(logging.INFO, "mangaassist.devtools.supervisor")
    await answered(cluster, f"before-{victim}")
    orchestrator, intent = cluster.procs["orchestrator"].pid, cluster.procs["intent"].pid
    old = cluster.procs[victim]
    before = supervisor.parts[victim].restarts
    # The redis stand-in is a wrapper running redis-server: the server must die with it, or it
    # would keep the port and no restart could bind it.
    grandchildren = children(old.pid)

    os.kill(old.pid, signal.SIGKILL)
    if victim == "inference":
        # While the model is down the rest keeps serving: a greeting needs no model.
        async with connect(cluster.ws_url) as ws:
            greeting = await ask(ws, "hello", request_id="hi")
        assert greeting[-1]["type"] == "done", greeting

    await wait_restarted(supervisor, victim, before + 1)
    assert cluster.procs[victim].pid != old.pid
    assert not [pid for pid in grandchildren if alive(pid)], grandchildren
    done = await answered(cluster, f"after-{victim}")
    assert done["model"] != "none", done
    assert await asyncio.to_thread(lambda: http_health(cluster.health_url)[0]) == 200
    # Only the victim was restarted.
    assert (cluster.procs["orchestrator"].pid, cluster.procs["intent"].pid) == (orchestrator, intent)
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"{victim} (pid {old.pid}) exited with code -9; restarting") for m in logged), logged
    assert any(m.startswith(f"restarted {victim}") for m in logged), logged
