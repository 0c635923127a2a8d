"""``python -m mangaassist.orchestrator``: the WebSocket front door, until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from mangaassist.common.grpc_client import open_channel
from mangaassist.common.logging import setup_logging
from mangaassist.common.telemetry import setup_tracing
from mangaassist.orchestrator.app import Orchestrator
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.pipeline import Downstreams, Pipeline
from mangaassist.orchestrator.sessions import InMemorySessionStore
from mangaassist.proto.inference.v1 import inference_pb2_grpc
from mangaassist.proto.intent.v1 import intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2_grpc

logger = logging.getLogger("mangaassist.orchestrator")


async def main() -> None:
    settings = OrchestratorSettings()
    setup_logging("orchestrator", settings.log_level)
    provider, tracer = setup_tracing("orchestrator", settings.service_version)
    channels = {
        "intent": open_channel(settings.intent_target),
        "retrieval": open_channel(settings.retrieval_target),
        "inference": open_channel(settings.inference_target),
    }
    downstreams = Downstreams(
        intent=intent_pb2_grpc.IntentServiceStub(channels["intent"]),
        retrieval=retrieval_pb2_grpc.RetrievalServiceStub(channels["retrieval"]),
        inference=inference_pb2_grpc.InferenceServiceStub(channels["inference"]),
    )
    sessions = InMemorySessionStore(settings.max_sessions, settings.session_ttl_s)
    pipeline = Pipeline(settings, downstreams, sessions, tracer)
    app = Orchestrator(settings, pipeline, channels)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        await stop.wait()
        await app.drain()
    finally:
        for channel in channels.values():
            await channel.close()
        provider.shutdown()
        logger.info("stopped")


if __name__ == "__main__":
    uvloop.run(main())
