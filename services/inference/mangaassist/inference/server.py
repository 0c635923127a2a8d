"""Wire the inference servicer into the shared gRPC app: start, pre-warm, close the backend."""

from __future__ import annotations

import logging

from grpc_health.v1 import health_pb2
from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.common.pools import PoolManager
from mangaassist.inference.bedrock import BedrockBackend
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.service import InferenceServicer, OutputCheck, local_output_check
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


def build_app(settings: InferenceSettings, tracer: Tracer) -> GrpcApp:
    backend = BedrockBackend(settings, tracer)

    async def bedrock_output_check(text: str) -> tuple[bool, list[str]]:
        return await backend.apply_guardrail(text)

    check: OutputCheck = bedrock_output_check if settings.output_engine == "bedrock" else local_output_check
    servicer = InferenceServicer(backend, settings, check)
    pools = PoolManager("inference")
    pools.register(backend.as_pool())

    async def warm_up() -> None:
        # Health stays NOT_SERVING until the client exists, the (bounded) pre-warm ends and
        # every configured model has answered once (a refused model keeps it NOT_SERVING).
        await backend.start()
        if settings.prewarm:
            await pools.warm_all(settings.warm_up_timeout_s)
        if settings.require_models:
            await backend.wait_for_models(settings.warm_up_timeout_s, settings.model_check_backoff_max_s)

    def follow_model() -> None:
        # From SERVING on, the service's own status follows the model endpoint's reachability
        # (reachability.py); the server's overall status ("") stays the process's liveness.
        async def publish(reachable: bool) -> None:
            status = health_pb2.HealthCheckResponse.SERVING if reachable else health_pb2.HealthCheckResponse.NOT_SERVING
            await app.health.set(SERVICE_NAME, status)

        backend.reachability.report_to(publish)

    app = GrpcApp(
        settings,
        service_names=[SERVICE_NAME],
        tracer=tracer,
        span_names={f"/{SERVICE_NAME}/Generate": spans.MODEL_INFERENCE},
        register=lambda server: inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server),
        warm_up=warm_up,
        serving=follow_model,
        close=backend.close,
    )
    return app
