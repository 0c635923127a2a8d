"""Process entry for gRPC services: settings → logging → tracing and metrics → app lifecycle on uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import uvloop
from opentelemetry.trace import Tracer

from mangaassist.common.grpc_server import GrpcApp
from mangaassist.common.logging import setup_logging
from mangaassist.common.metrics import observe_asyncio_tasks, setup_metrics
from mangaassist.common.settings import ServiceSettings
from mangaassist.common.telemetry import setup_tracing

S = TypeVar("S", bound=ServiceSettings)


def serve(name: str, settings_type: Callable[[], S], build_app: Callable[[S, Tracer], GrpcApp]) -> None:
    """Run one service process until SIGTERM/SIGINT has drained it.

    Settings are read and validated here, once; a bad setting fails the start.
    """

    async def main() -> None:
        settings = settings_type()
        setup_logging(name, settings.log_level)
        provider, tracer = setup_tracing(name, settings.service_version)
        meters = setup_metrics(name, settings.service_version)
        observe_asyncio_tasks(asyncio.get_running_loop())
        try:
            await build_app(settings, tracer).run()
        finally:
            provider.shutdown()
            meters.shutdown()

    uvloop.run(main())
