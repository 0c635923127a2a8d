"""Per-request segment timing: each segment is an OpenTelemetry span *and* a wall-time entry.

The ``done`` frame's ``timings_ms`` and the trace come from the same measurement, keyed
by the contract's span names, so what a client sees lines up with what X-Ray shows.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from mangaassist.common import spans


class Segments:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.timings_ms: dict[str, float] = {}
        self._delivery_s = 0.0
        self._delivery_first: tuple[float, int] | None = None

    def segment(
        self,
        name: str,
        attributes: dict[str, Any] | None = None,
        parent: otel_context.Context | None = None,
    ) -> _Segment:
        """Time ``name`` as a child of the current span (or of ``parent``): ``with
        seg.segment(name) as span: ...``."""
        return _Segment(self, name, attributes, parent)

    def add_delivery(self, started: float) -> None:
        """Count one frame's send time toward ``response-streaming``.

        ``response-streaming`` (5-15 ms, decision 0008) is the cost of delivering the stream,
        not the model's generation time (that is ``bedrock-invoke``), so it is the sum of
        the time spent sending token frames.
        """
        now = time.perf_counter()
        if self._delivery_first is None:
            self._delivery_first = (started, time.time_ns())
        self._delivery_s += now - started

    def close_delivery(self) -> None:
        """Record ``response-streaming`` (and its span, anchored at the first token)."""
        if self._delivery_first is None:
            return
        self.timings_ms[spans.RESPONSE_STREAMING] = round(self._delivery_s * 1000, 3)
        start_ns = self._delivery_first[1]
        span = self._tracer.start_span(spans.RESPONSE_STREAMING, start_time=start_ns)
        span.end(end_time=start_ns + int(self._delivery_s * 1e9))

    def record(self, name: str, start: float, end: float | None = None) -> None:
        """Store ``name``'s wall time from ``start`` (a ``perf_counter`` reading)."""
        self.timings_ms[name] = round(((end or time.perf_counter()) - start) * 1000, 3)


class _Segment:
    """One segment's span, made current while the block runs, and its wall time.

    A plain context manager (the span started, attached and ended directly) rather than the
    SDK's ``start_as_current_span`` inside a generator: the same span, two generator context
    managers fewer per segment (~16 segments an answer, decision 0011)."""

    __slots__ = ("_attributes", "_name", "_parent", "_seg", "_span", "_start", "_token")

    def __init__(
        self, seg: Segments, name: str, attributes: dict[str, Any] | None, parent: otel_context.Context | None
    ) -> None:
        self._seg = seg
        self._name = name
        self._attributes = attributes
        self._parent = parent

    def __enter__(self) -> Span:
        self._start = time.perf_counter()
        # The request's root is where a customer's query enters this service: a SERVER span
        # (X-Ray makes it the orchestrator's segment; the rest are its subsegments).
        kind = SpanKind.SERVER if self._name == spans.REQUEST else SpanKind.INTERNAL
        span = self._seg._tracer.start_span(self._name, context=self._parent, kind=kind, attributes=self._attributes)
        self._span = span
        self._token = otel_context.attach(set_span_in_context(span))
        return span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        span = self._span
        try:
            if exc_type is not None:
                span.set_status(Status(StatusCode.ERROR, exc_type.__name__))
            self._seg.record(self._name, self._start)
        finally:
            otel_context.detach(self._token)
            span.end()
