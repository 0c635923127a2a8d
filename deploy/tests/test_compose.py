"""deploy/compose.yaml, validated and resolved by the real Compose binary (no engine needed)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import DEPLOY

COMPOSE_FILE = DEPLOY / "compose.yaml"
MESH = {"orchestrator": 8080, "intent": 50051, "retrieval": 50052, "inference": 50053}
# The contract's local stand-in ports, as published on the host.
STANDINS = {"bedrock-emulator": 8091, "moto": 8092, "redis": 8093, "trace-receiver": 4317}


def compose(binary: Path, *args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), "-f", str(file), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def config(compose_bin: Path) -> dict[str, Any]:
    result = compose(compose_bin, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_whole_cluster_is_there(config: dict[str, Any]) -> None:
    assert set(config["services"]) == set(MESH) | set(STANDINS)


def test_every_service_is_health_checked_and_started_only_after_its_dependencies(config: dict[str, Any]) -> None:
    services = config["services"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dep, how in service.get("depends_on", {}).items():
            assert how["condition"] == "service_healthy", f"{name} -> {dep} is not health-gated"
    assert set(services["orchestrator"]["depends_on"]) >= {"intent", "retrieval", "inference"}
    assert "bedrock-emulator" in services["inference"]["depends_on"]


def test_ports_are_the_contracts_and_bound_to_loopback(config: dict[str, Any]) -> None:
    for name, port in {**MESH, **STANDINS}.items():
        published = config["services"][name]["ports"]
        assert [(p["host_ip"], int(p["published"])) for p in published] == [("127.0.0.1", port)], name


def test_mesh_services_build_their_own_target_and_drain_on_sigterm(config: dict[str, Any]) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M))
    for name, port in MESH.items():
        service = config["services"][name]
        assert service["build"]["target"] == name and name in stages
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["stop_signal"] == "SIGTERM"
        assert str(port) in " ".join(service["healthcheck"]["test"])
    orchestrator_env = config["services"]["orchestrator"]["environment"]
    for name in ("intent", "retrieval", "inference"):
        assert orchestrator_env[f"MANGAASSIST_ORCHESTRATOR_{name.upper()}_TARGET"] == f"{name}:{MESH[name]}"


def test_compose_rejects_a_broken_file(compose_bin: Path, tmp_path: Path) -> None:
    """The check can fail: a dependency on a service that does not exist is an error."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE_FILE.read_text().replace("inference: { condition: service_healthy }",
                                                       "inferense: { condition: service_healthy }", 1))
    result = compose(compose_bin, "config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "inferense" in result.stderr
