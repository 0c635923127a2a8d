"""``make up REPLICAS=2``'s wiring, read from the settings each process would get (no process starts)."""

from __future__ import annotations

import pytest

from mangaassist.devtools.cluster import DEFAULT_PORTS, Cluster, service_of
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.retrieval.config import RetrievalSettings


def settings_of(cluster: Cluster, name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = cluster._env(name)  # the environment spawn() would pass
    for key, value in env.items():
        if key.startswith("MANGAASSIST_"):
            monkeypatch.setenv(key, value)
    return env


def test_two_replicas_of_each_grpc_service_on_fixed_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(ports=DEFAULT_PORTS, replicas=2)
    assert cluster.grpc_processes == ["intent", "intent-2", "retrieval", "retrieval-2", "inference", "inference-2"]
    assert [cluster.port[n] for n in cluster.grpc_processes] == [50051, 50061, 50052, 50062, 50053, 50063]
    assert service_of("retrieval-2") == "retrieval" and service_of("bedrock_emulator") == "bedrock_emulator"

    settings_of(cluster, "orchestrator", monkeypatch)
    orchestrator = OrchestratorSettings()
    assert orchestrator.retrieval_target == "127.0.0.1:50052,127.0.0.1:50062"
    assert orchestrator.intent_target == "127.0.0.1:50051,127.0.0.1:50061"

    env = settings_of(cluster, "retrieval-2", monkeypatch)
    retrieval = RetrievalSettings()
    assert (retrieval.port, retrieval.peers) == (50062, ["127.0.0.1:50052"])  # it follows the other replica
    assert "MANGAASSIST_RETRIEVAL_2_PORT" not in env


def test_one_replica_is_the_cluster_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(ports=DEFAULT_PORTS)
    assert cluster.grpc_processes == ["intent", "retrieval", "inference"]
    env = settings_of(cluster, "retrieval", monkeypatch)
    assert "MANGAASSIST_RETRIEVAL_PEERS" not in env
    settings_of(cluster, "orchestrator", monkeypatch)
    assert OrchestratorSettings().retrieval_target == "127.0.0.1:50052"
    with pytest.raises(ValueError, match="at least 1"):
        Cluster(replicas=0)
