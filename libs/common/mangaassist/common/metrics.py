"""OpenTelemetry metrics: per-segment latency histograms and request counters.

Instruments (every process exports them through the OTLP metric exporter, configured only
by the standard ``OTEL_*`` variables, like the traces):

- ``mangaassist.segment.duration`` (histogram, ms, attribute ``segment``): one
  observation per contract segment a request went through — the orchestrator's per-request
  ``timings_ms``, and each gRPC service's own server span. Explicit buckets fit for
  millisecond latencies (0.5 ms … 30 s). In AWS the stack asks the exporter for base-2
  exponential histograms instead (``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``),
  the only kind the ADOT ``awsemf`` exporter turns into CloudWatch percentiles.
- ``mangaassist.requests`` (counter, orchestrator): answered queries by ``intent``,
  ``model``, ``cache_hit`` and ``outcome`` (``ok`` or the contract's error code).
- ``mangaassist.rpc.requests`` (counter, gRPC services): RPCs by ``segment`` and
  ``outcome`` (``OK`` or the gRPC status code name).
- ``mangaassist.websocket.connections`` / ``mangaassist.websocket.inflight`` (gauges,
  orchestrator, no attributes): open WebSocket connections and answers in flight in this
  process — the WebSocket work the stack scales the orchestrator on (ALB request counts
  miss it: one upgrade request carries a whole conversation).

Cardinality is bounded by construction: segment names must be the contract's, intents
and models come from fixed vocabularies (anything else becomes ``other``, nothing
``unknown``), outcomes are
enumerations. No attribute ever carries customer text or an id.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from functools import cache

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader, PeriodicExportingMetricReader

from mangaassist.common import spans
from mangaassist.common.telemetry import otlp_protocol, resource_for
from mangaassist.common.vocabulary import INTENTS

SEGMENT_DURATION = "mangaassist.segment.duration"
REQUESTS = "mangaassist.requests"
RPC_REQUESTS = "mangaassist.rpc.requests"
WS_CONNECTIONS = "mangaassist.websocket.connections"
WS_INFLIGHT = "mangaassist.websocket.inflight"
ASYNCIO_TASKS = "mangaassist.process.asyncio_tasks"
# Bucket upper bounds in ms: fine below 10 ms (validation, intent, cache), then roughly
# 2-2.5× steps up to the request timeout.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5,
    1,
    2,
    3,
    5,
    8,
    10,
    15,
    25,
    50,
    75,
    100,
    150,
    250,
    500,
    800,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
    30000,
)
SEGMENTS: frozenset[str] = frozenset(v for k, v in vars(spans).items() if k.isupper() and isinstance(v, str))
MODELS: frozenset[str] = frozenset({"none", "haiku", "sonnet"})
_INTENTS = frozenset(INTENTS)


def export_configured() -> bool:
    """Whether the standard ``OTEL_*`` variables ask for OTLP metric export."""
    if os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def metric_exporter() -> MetricExporter:
    """The OTLP metric exporter ``OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL`` asks for (grpc or http/protobuf)."""
    if otlp_protocol("metrics") == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

        return HttpMetricExporter()
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


def setup_metrics(service: str, version: str, readers: list[MetricReader] | None = None) -> MeterProvider:
    """Build this process's meter provider and make it the global one.

    With export configured, an OTLP exporter (gRPC or HTTP, ``OTEL_EXPORTER_OTLP_PROTOCOL``) pushes every
    ``OTEL_METRIC_EXPORT_INTERVAL`` ms (60 s by default; the local cluster uses 1 s) from
    a background thread. ``OTEL_SDK_DISABLED=true`` turns every instrument into a no-op.
    ``readers`` adds readers (tests). Call once per process, before serving.
    """
    all_readers = list(readers or [])
    if export_configured():
        all_readers.append(PeriodicExportingMetricReader(metric_exporter()))
    provider = MeterProvider(resource=resource_for(service, version), metric_readers=all_readers)
    metrics.set_meter_provider(provider)
    return provider


def _bounded(value: object, allowed: frozenset[str]) -> str:
    if value is None or value == "":
        return "unknown"
    return value if isinstance(value, str) and value in allowed else "other"


class MeshMetrics:
    """The instruments, and the only place their attributes are built (so they stay bounded)."""

    def __init__(self, meter: Meter) -> None:
        self._duration = meter.create_histogram(
            SEGMENT_DURATION,
            unit="ms",
            description="wall time of one contract segment",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_MS),
        )
        self._requests = meter.create_counter(
            REQUESTS, unit="{request}", description="answered queries by intent, model, cache hit and outcome"
        )
        self._rpcs = meter.create_counter(
            RPC_REQUESTS, unit="{request}", description="served RPCs by segment and outcome"
        )

    def segment(self, name: str, ms: float) -> None:
        """One observation of a contract segment (other names are ignored)."""
        if name in SEGMENTS and ms >= 0:
            self._duration.record(ms, {"segment": name})

    def segments(self, timings_ms: Mapping[str, float]) -> None:
        for name, ms in timings_ms.items():
            self.segment(name, ms)

    def request(self, *, intent: object, model: object, cache_hit: object, outcome: str) -> None:
        """Count one answered (or refused) query at the front door."""
        self._requests.add(
            1,
            {
                "intent": _bounded(intent, _INTENTS),
                "model": _bounded(model, MODELS),
                "cache_hit": bool(cache_hit),
                "outcome": outcome,
            },
        )

    def rpc(self, segment: str, ms: float, outcome: str) -> None:
        """One served RPC: its latency under its segment name and its status."""
        if segment not in SEGMENTS:
            return
        self._duration.record(ms, {"segment": segment})
        self._rpcs.add(1, {"segment": segment, "outcome": outcome})


@cache
def mesh_metrics() -> MeshMetrics:
    """The process's instruments, from the global meter provider (a no-op until one is set)."""
    return MeshMetrics(metrics.get_meter("mangaassist"))


def observe_websocket_work(
    connections: Callable[[], int], inflight: Callable[[], int], meter: Meter | None = None
) -> None:
    """Register the front door's two gauges (on the global meter provider unless ``meter`` is
    given); the callbacks are read at each export."""
    meter = meter or metrics.get_meter("mangaassist.websocket")
    for name, read, unit, description in (
        (WS_CONNECTIONS, connections, "{connection}", "open WebSocket connections in this process"),
        (WS_INFLIGHT, inflight, "{request}", "answers in flight in this process"),
    ):

        def callback(options: CallbackOptions, read: Callable[[], int] = read) -> list[Observation]:
            return [Observation(read())]

        meter.create_observable_gauge(name, callbacks=[callback], unit=unit, description=description)


def observe_asyncio_tasks(loop: asyncio.AbstractEventLoop, meter: Meter | None = None) -> None:
    """A gauge of the live asyncio tasks on ``loop`` (read at each export, from the exporter's
    thread; ``asyncio.all_tasks`` copies the task set, retrying if it changes meanwhile): a
    task leak shows as a count that keeps rising at steady load (the soak bench watches it)."""
    meter = meter or metrics.get_meter("mangaassist.process")

    def callback(options: CallbackOptions) -> list[Observation]:
        return [Observation(len(asyncio.all_tasks(loop)))]

    meter.create_observable_gauge(
        ASYNCIO_TASKS, callbacks=[callback], unit="{task}", description="live asyncio tasks in this process"
    )
