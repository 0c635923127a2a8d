"""Targets naming several replicas become one balanced channel's target; a list gRPC cannot
resolve is refused with the reason (and the orchestrator's settings refuse it at start)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mangaassist.common.grpc_client import CHANNEL_OPTIONS, channel_target


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


def test_channels_balance_per_call_over_healthy_addresses() -> None:
    config = json.loads(dict(CHANNEL_OPTIONS)["grpc.service_config"])  # type: ignore[arg-type]
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    (method,) = config["methodConfig"]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"] and method["retryPolicy"]["maxAttempts"] == 2
