"""Wire the inference servicer into the shared gRPC app."""

from __future__ import annotations

from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.inference.backend import FoundationModel
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.service import InferenceServicer
from mangaassist.inference.template_emulator import TemplateEmulator
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc

SERVICE_NAME = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


def make_backend(settings: InferenceSettings) -> FoundationModel:
    if settings.backend == "template-emulator":
        return TemplateEmulator(settings.token_delay_ms / 1000)
    raise ValueError(f"unknown inference backend {settings.backend!r} (known: template-emulator)")


def build_app(settings: InferenceSettings, tracer: Tracer) -> GrpcApp:
    servicer = InferenceServicer(make_backend(settings), settings.default_max_tokens, settings.max_tokens_limit)
    return GrpcApp(
        settings,
        service_names=[SERVICE_NAME],
        tracer=tracer,
        span_names={f"/{SERVICE_NAME}/Generate": spans.MODEL_INFERENCE},
        register=lambda server: inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server),
    )
