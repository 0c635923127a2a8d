"""Pytest fixtures for the real local stand-ins, shared by every package's integration tests.

Loaded for the whole suite by ``-p mangaassist.devtools.pytest_fixtures`` (pyproject's pytest
``addopts``), so a test next to its package (``services/orchestrator/tests``,
``libs/observability/tests``, ``bench/tests``, ``deploy/tests/images``) asks for ``moto_url``,
``redis_server``, ``cluster`` or ``aws_env`` by name instead of starting its own copy. A fixture starts its
processes only when a test asks for it. ``moto_url`` and ``redis_server`` live for one test
module (tests that change a server's state cannot leak into another module); ``cluster`` is
one healthy local cluster shared by every read-only end-to-end test of the session.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mangaassist.devtools.cluster import LOCAL_AWS_ENV, Cluster, free_port, http_health
from mangaassist.devtools.procs import stop_process
from mangaassist.devtools.redis_server import REPO_ROOT, RedisStackServer
from mangaassist.devtools.supervisor import Backoff, Supervisor

# Passage embeddings are cached by content hash; sharing the cache across runs only
# saves time, it cannot change a result.
CACHE_ENV = {"MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO_ROOT / ".cache" / "index")}


def start_cluster(log_dir: Path, replicas: int = 1, **env: str) -> Cluster:
    """A started local cluster with the model emulator at zero latency (``env`` overrides)."""
    base = {
        **CACHE_ENV,
        "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
        "MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS": "1",
    }
    return Cluster(env={**base, **env}, log_dir=log_dir, replicas=replicas).start()


@contextmanager
def supervising(cluster: Cluster) -> Iterator[Supervisor]:
    """``make up``'s supervisor over ``cluster`` on a thread (fast backoff), stopped on exit —
    before the caller stops the cluster, or it would restart what is being stopped."""
    supervisor = Supervisor(cluster, Backoff(initial_s=0.5, max_s=4))
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop, 0.1), daemon=True)
    thread.start()
    try:
        yield supervisor
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One healthy cluster shared by the read-only end-to-end tests."""
    c = start_cluster(tmp_path_factory.mktemp("cluster-logs"))
    yield c
    c.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stand-ins' credentials and Region in the environment, for one test: what an
    AWS client made in the test (aioboto3, botocore) reads."""
    for key, value in LOCAL_AWS_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server (DynamoDB, X-Ray, CloudWatch) on an ephemeral loopback port, its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while http_health(f"{url}/moto-api/data.json")[0] != 200:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("moto did not start")
            time.sleep(0.05)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisStackServer]:
    """A Redis Stack server (search module) on an ephemeral port, data in a temp dir."""
    with RedisStackServer(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server
