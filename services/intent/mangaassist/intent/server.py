"""Wire the intent servicer into the shared gRPC app."""

from __future__ import annotations

import logging

from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.intent.config import IntentSettings
from mangaassist.intent.model import IntentModel
from mangaassist.intent.nouns import is_common_noun
from mangaassist.intent.service import IntentServicer
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

logger = logging.getLogger(__name__)
SERVICE_NAME = intent_pb2.DESCRIPTOR.services_by_name["IntentService"].full_name


def build_app(settings: IntentSettings, tracer: Tracer) -> GrpcApp:
    """The intent process. Loads the trained artefact first: a missing or corrupt model
    raises :class:`~mangaassist.intent.model.ModelError` and the process does not start."""
    model = IntentModel.load(settings.model_path)
    logger.info(
        "model loaded",
        extra={"model_version": model.version, "intents": len(model.labels), "threshold": model.threshold},
    )
    servicer = IntentServicer(model, settings.abstain_threshold, settings.max_text_chars, settings.explain_top_features)
    # The Japanese dictionary (~80 ms to open) before the first customer, not during their turn
    # (the servicer runs on this thread's event loop).
    is_common_noun("猫")
    return GrpcApp(
        settings,
        service_names=[SERVICE_NAME],
        tracer=tracer,
        span_names={f"/{SERVICE_NAME}/Classify": spans.INTENT},
        register=lambda server: intent_pb2_grpc.add_IntentServiceServicer_to_server(servicer, server),
    )
