"""The ADOT collector configs: every pipeline is wired to components that are defined."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DEPLOY

CONFIGS = [DEPLOY / "otel" / "collector.yaml", DEPLOY / "otel" / "collector-awsxray.yaml"]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_pipelines_reference_defined_components(path: Path) -> None:
    config = load(path)
    service = config["service"]
    for extension in service["extensions"]:
        assert extension in config["extensions"]
    for name, pipeline in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{path.name}: {name} uses undefined {kind[:-1]} {component}"
        # memory_limiter first, batch last: the collector's documented order.
        assert pipeline["processors"][0] == "memory_limiter"
        assert pipeline["processors"][-1].startswith("batch")
    # The receiver listens only inside the task (localhost is shared in awsvpc mode).
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        assert protocol["endpoint"].startswith("127.0.0.1:")


def test_default_sends_traces_over_otlp_with_sigv4_to_xray_and_metrics_as_emf() -> None:
    config = load(CONFIGS[0])
    pipelines = config["service"]["pipelines"]
    (trace_exporter,) = pipelines["traces"]["exporters"]
    exporter = config["exporters"][trace_exporter]
    assert trace_exporter.startswith("otlphttp")
    assert exporter["traces_endpoint"] == "https://xray.${env:AWS_REGION}.amazonaws.com/v1/traces"
    authenticator = exporter["auth"]["authenticator"]
    assert authenticator.startswith("sigv4auth") and config["extensions"][authenticator]["service"] == "xray"
    assert pipelines["metrics"]["exporters"] == ["awsemf"]
    # Per stack: the CDK stack resolves both placeholders (their defaults serve a collector elsewhere).
    assert config["exporters"]["awsemf"]["namespace"] == "${env:MANGAASSIST_METRICS_NAMESPACE:-MangaAssist}"
    assert (
        config["exporters"]["awsemf"]["log_group_name"] == "${env:MANGAASSIST_METRICS_LOG_GROUP:-/mangaassist/metrics}"
    )


def test_alternative_uses_the_awsxray_exporter() -> None:
    config = load(CONFIGS[1])
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["awsxray"]


# The instruments the services export (libs/common/mangaassist/common/metrics.py) and the
# attributes each carries; deploy tests run in their own venv, so they are listed here.
INSTRUMENTS = {
    "mangaassist.segment.duration": {"segment"},
    "mangaassist.requests": {"intent", "model", "cache_hit", "outcome"},
    "mangaassist.rpc.requests": {"segment", "outcome"},
    # The pool manager's gauges (libs/common/mangaassist/common/pools.py).
    "pool.connections.active": {"service", "pool"},
    "pool.checkout.avg": {"service", "pool"},
    # The orchestrator's WebSocket work (its autoscaling metric): no attributes.
    "mangaassist.websocket.connections": set(),
    "mangaassist.websocket.inflight": set(),
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_instrument_reaches_cloudwatch_with_bounded_dimensions(path: Path) -> None:
    emf = load(path)["exporters"]["awsemf"]
    assert emf["resource_to_telemetry_conversion"]["enabled"] is True  # service.name as a dimension
    for name, attributes in INSTRUMENTS.items():
        rules = [
            d for d in emf["metric_declarations"] if any(re.search(sel, name) for sel in d["metric_name_selectors"])
        ]  # Go MatchString
        assert len(rules) == 1, f"{path.name}: {name} matches {len(rules)} declarations"
        for dimensions in rules[0]["dimensions"]:
            # Only the service and the instrument's own bounded attributes: never task ids.
            assert "service.name" in dimensions and set(dimensions) <= attributes | {"service.name"}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """How the collector merges ``--config`` files: maps merge key by key, anything else
    (lists, scalars) is replaced by the later file."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_the_local_profile_turns_the_sidecar_config_into_the_compose_collectors() -> None:
    config = merged(load(CONFIGS[0]), load(DEPLOY / "otel" / "collector-local.yaml"))
    service = config["service"]
    assert service["extensions"] == ["health_check"]  # no SigV4 locally
    for name, pipeline in service["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline[kind]:
                assert component in config[kind], f"{name} uses undefined {kind[:-1]} {component}"
        assert pipeline["processors"][0] == "memory_limiter" and pipeline["processors"][-1].startswith("batch")
    pipelines = service["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger", "otlp/receiver"]
    assert pipelines["traces"]["receivers"] == ["otlp"]  # kept from collector.yaml
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        assert protocol["endpoint"].startswith("0.0.0.0:")  # other containers send to it
    assert config["processors"]["resourcedetection"]["detectors"] == ["env"]
    # Nothing of the AWS path is exported locally.
    assert not {"awsemf", "otlphttp/xray"} & {e for p in pipelines.values() for e in p["exporters"]}
