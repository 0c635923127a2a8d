"""Liveness and readiness on the real front door: ``/livez`` stays 200 while every downstream
is down (so a load balancer never kills a task for a downstream's trouble); ``/healthz``
says which downstream is not SERVING."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import grpc
import pytest

from mangaassist.devtools.cluster import free_port, http_health
from mangaassist.orchestrator.app import Orchestrator
from mangaassist.orchestrator.auth import TokenVerifier
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.pipeline import Pipeline
from mangaassist.orchestrator.postprocess import PostProcessor

pytestmark = pytest.mark.integration


async def test_livez_is_200_with_every_downstream_down_and_healthz_is_not() -> None:
    settings = OrchestratorSettings(port=0, health_timeout_s=0.2, drain_grace_s=0.1)
    # Nothing listens on these ports: every downstream is unreachable.
    channels = {
        name: grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") for name in ("intent", "retrieval", "inference")
    }
    pipeline = SimpleNamespace(guards=Guards(settings.breakers, settings.bulkhead_wait_s), post=PostProcessor(8))
    app = Orchestrator(settings, cast(Pipeline, pipeline), channels, TokenVerifier(None))
    await app.start()
    base = f"http://127.0.0.1:{app.port}"
    try:
        status, body = await asyncio.to_thread(http_health, f"{base}/livez", 5.0)
        assert (status, body["status"]) == (200, "alive")
        status, body = await asyncio.to_thread(http_health, f"{base}/healthz", 5.0)
        assert status == 503 and body["not_serving"] == ["inference", "intent", "retrieval"]
        assert set(body["downstreams"].values()) == {"UNREACHABLE"}
        await app.drain()
    finally:
        for channel in channels.values():
            await channel.close()
