"""Targets naming several replicas become one balanced channel's target; a list gRPC cannot
resolve is refused with the reason (and the orchestrator's settings refuse it at start)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from mangaassist.common.grpc_client import channel_options, channel_target


def test_one_address_or_a_uri_is_passed_through() -> None:
    assert channel_target("127.0.0.1:50052") == "127.0.0.1:50052"
    assert channel_target("retrieval.mangaassist.local:50052") == "retrieval.mangaassist.local:50052"
    assert channel_target("dns:///retrieval:50052") == "dns:///retrieval:50052"


def test_a_list_of_ip_addresses_is_one_ipv4_target() -> None:
    assert channel_target("127.0.0.1:50052, 127.0.0.1:50062") == "ipv4:127.0.0.1:50052,127.0.0.1:50062"


@pytest.mark.parametrize("bad", ["retrieval:1,retrieval-2:2", "127.0.0.1:1,127.0.0.1", "127.0.0.1:1,,"])
def test_a_list_grpc_cannot_resolve_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="dns:///"):
        channel_target(bad)


def test_the_orchestrator_refuses_such_a_list_at_start() -> None:
    from mangaassist.orchestrator.config import OrchestratorSettings

    with pytest.raises(ValidationError, match="ip:port"):
        OrchestratorSettings(inference_target="inference-a:50053,inference-b:50053")


def config_of(target: str) -> dict[str, Any]:
    raw = dict(channel_options(channel_target(target)))["grpc.service_config"]
    assert isinstance(raw, str)
    config: dict[str, Any] = json.loads(raw)
    return config


def test_a_replica_list_is_balanced_over_healthy_addresses_and_one_address_is_not_health_checked() -> None:
    balanced = config_of("127.0.0.1:1,127.0.0.1:2")
    assert balanced["loadBalancingConfig"] == [{"round_robin": {}}]
    assert balanced["healthCheckConfig"] == {"serviceName": ""}
    (method,) = balanced["methodConfig"]
    assert (
        method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"] and method["retryPolicy"]["maxAttempts"] == 2
    )
    # One address (a host, or Service Connect's proxy in AWS): its one Watch stream would land on
    # one task behind the proxy, and that task draining would mark the whole service down.
    single = config_of("retrieval:50052")
    assert "healthCheckConfig" not in single and single["methodConfig"] == balanced["methodConfig"]
    # ... and keeps pick_first, which reconnects on the next call after the peer restarts
    # (round_robin refuses calls until its reconnect backoff ends).
    assert "loadBalancingConfig" not in single
