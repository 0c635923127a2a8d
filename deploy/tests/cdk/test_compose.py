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
# The contract's local stand-in ports, as published on the host (OTLP/gRPC 4317 is the
# collector's now; the trace receiver behind it publishes its JSON API on 4319).
STANDINS = {
    "bedrock-emulator": [8091],
    "moto": [8092],
    "valkey": [8093],
    "otel-collector": [4317, 4318],
    "jaeger": [16686],
    "trace-receiver": [4319],
}


def compose(binary: Path, *args: str, file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), "-f", str(file), *args], capture_output=True, text=True, timeout=60, check=False
    )


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
    for name, ports in {**{k: [v] for k, v in MESH.items()}, **STANDINS}.items():
        published = config["services"][name]["ports"]
        assert [(p["host_ip"], int(p["published"])) for p in published] == [("127.0.0.1", p) for p in ports], name


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
    broken.write_text(
        COMPOSE_FILE.read_text().replace(
            "inference: { condition: service_healthy }", "inferense: { condition: service_healthy }", 1
        )
    )
    result = compose(compose_bin, "config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "inferense" in result.stderr


def test_telemetry_takes_the_aws_path_through_the_real_collector_to_jaeger(config: dict[str, Any]) -> None:
    """The collector is the ECS sidecar's (same ADOT tag as the stack, same collector.yaml),
    with the local profile merged over it; every service exports to it; Jaeger shows traces."""
    services = config["services"]
    collector = services["otel-collector"]
    image, _, tag = collector["image"].rpartition(":")
    assert image == "public.ecr.aws/aws-observability/aws-otel-collector"
    cdk_default = re.search(r'adot_image_tag: str = "([^"]+)"', (DEPLOY / "cdk/mangaassist_cdk/config.py").read_text())
    assert cdk_default and tag == cdk_default.group(1)
    mounts = {v["target"]: Path(v["source"]) for v in collector["volumes"]}
    assert mounts["/etc/mangaassist/collector.yaml"] == DEPLOY / "otel" / "collector.yaml"
    assert mounts["/etc/mangaassist/collector-local.yaml"] == DEPLOY / "otel" / "collector-local.yaml"
    assert collector["command"] == [
        "--config=/etc/mangaassist/collector.yaml",
        "--config=/etc/mangaassist/collector-local.yaml",
    ]
    assert collector["healthcheck"]["test"] == ["CMD", "/healthcheck"]
    assert set(collector["depends_on"]) == {"jaeger", "trace-receiver"}
    for name in MESH:
        env = services[name]["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
        assert env["OTEL_SERVICE_NAME"] == name
        assert "otel-collector" in services[name]["depends_on"]
    assert services["jaeger"]["image"].startswith("jaegertracing/")
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_the_cache_is_valkey_with_valkey_search_not_redis_stack(config: dict[str, Any]) -> None:
    services = config["services"]
    assert "redis" not in services
    assert services["valkey"]["image"].startswith("valkey/valkey-bundle:")  # valkey-search loaded
    assert services["orchestrator"]["environment"]["MANGAASSIST_ORCHESTRATOR_REDIS_URL"] == "redis://valkey:6379/0"
    assert "valkey" in services["orchestrator"]["depends_on"]
    assert not any("redis-stack" in str(s.get("image", "")) for s in services.values())
