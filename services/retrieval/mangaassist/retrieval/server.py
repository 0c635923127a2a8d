"""Wire the retrieval servicer into the shared gRPC app."""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.trace import Tracer

from mangaassist.common import spans
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.catalog import load_catalog
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.service import Index, RetrievalServicer
from mangaassist.retrieval.store import ExactStore, load_or_build_vectors

logger = logging.getLogger(__name__)
SERVICE_NAME = retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name


def build_index(settings: RetrievalSettings) -> Index:
    """Load the catalog and its (cached) embeddings; blocking, run it off the loop."""
    products = load_catalog(settings.catalog_path)
    embedder = make_embedder(settings.embedder)
    vectors = load_or_build_vectors(products, embedder, settings.index_dir)
    embedder.embed_query("warm-up")
    return Index(products=products, store=ExactStore(products, vectors), embedder=embedder)


def build_app(settings: RetrievalSettings, tracer: Tracer) -> GrpcApp:
    servicer = RetrievalServicer(settings.default_k, settings.max_k, settings.max_query_chars)

    async def warm_up() -> None:
        index = await asyncio.get_running_loop().run_in_executor(None, build_index, settings)
        servicer.ready(index)
        logger.info("index ready", extra={"documents": len(index.products)})

    async def close() -> None:
        servicer.close()

    return GrpcApp(
        settings,
        service_names=[SERVICE_NAME],
        tracer=tracer,
        span_names={f"/{SERVICE_NAME}/Search": spans.VECTOR_SEARCH, f"/{SERVICE_NAME}/Embed": spans.QUERY_EMBEDDING},
        register=lambda server: retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(servicer, server),
        warm_up=warm_up,
        close=close,
    )
