"""Fixtures: the Bedrock emulator as a real process, and the inference servicer in-process.

The servicer runs on a real ``grpc.aio`` server on an ephemeral port with the production
``BedrockBackend`` (real aioboto3, real sockets) pointed at the emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from opentelemetry import trace

from mangaassist.common.grpc_server import ServingInterceptor
from mangaassist.devtools.emulator import EmulatorProcess
from mangaassist.inference.bedrock import BedrockBackend
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.server import SERVICE_NAME
from mangaassist.inference.service import InferenceServicer, local_output_check
from mangaassist.proto.inference.v1 import inference_pb2_grpc


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    proc = EmulatorProcess(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield proc
    proc.stop()


@asynccontextmanager
async def inference(
    emulator: EmulatorProcess, **overrides: Any
) -> AsyncIterator[tuple[inference_pb2_grpc.InferenceServiceStub, InferenceServicer, BedrockBackend]]:
    """A started servicer + stub; retries off unless overridden so each fault is seen once."""
    settings = InferenceSettings(
        **{"bedrock_endpoint_url": emulator.url, "retry_mode": "standard", "max_attempts": 1, **overrides}
    )
    backend = BedrockBackend(settings)
    await backend.start()
    servicer = InferenceServicer(backend, settings, local_output_check)
    interceptor = ServingInterceptor(trace.get_tracer("test"), {f"/{SERVICE_NAME}/Generate": "model-inference"})
    server = grpc.aio.server(interceptors=[interceptor])
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield inference_pb2_grpc.InferenceServiceStub(channel), servicer, backend
    finally:
        await server.stop(0)
        await backend.close()
