"""Wire the intent servicer into the shared gRPC app."""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.intent.config import IntentSettings
from mangaassist.intent.model import IntentModel, load_examples
from mangaassist.intent.service import IntentServicer
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

logger = logging.getLogger(__name__)
SERVICE_NAME = intent_pb2.DESCRIPTOR.services_by_name["IntentService"].full_name


def build_app(settings: IntentSettings, tracer: Tracer) -> GrpcApp:
    """The intent process: trains its model during warm-up, then serves."""
    model = IntentModel()
    servicer = IntentServicer(model, settings.abstain_threshold, settings.max_text_chars)

    async def warm_up() -> None:
        examples = load_examples(settings.dataset_path)
        await asyncio.get_running_loop().run_in_executor(None, model.fit, examples)
        logger.info("model trained", extra={"examples": len(examples), "intents": len(model.labels)})

    return GrpcApp(
        settings,
        service_names=[SERVICE_NAME],
        tracer=tracer,
        span_names={f"/{SERVICE_NAME}/Classify": spans.INTENT},
        register=lambda server: intent_pb2_grpc.add_IntentServiceServicer_to_server(servicer, server),
        warm_up=warm_up,
    )
