"""Per-request segment timing: each segment is an OpenTelemetry span *and* a wall-time entry.

The ``done`` frame's ``timings_ms`` and the trace come from the same measurement, keyed
by the contract's span names, so what a client sees lines up with what X-Ray shows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from mangaassist.common import spans


class Segments:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.timings_ms: dict[str, float] = {}
        self._delivery_s = 0.0
        self._delivery_first: tuple[float, int] | None = None

    @contextmanager
    def segment(
        self,
        name: str,
        attributes: dict[str, Any] | None = None,
        parent: otel_context.Context | None = None,
    ) -> Iterator[Span]:
        """Time ``name`` as a child of the current span (or of ``parent``)."""
        start = time.perf_counter()
        # The request's root is where a customer's query enters this service: a SERVER span
        # (X-Ray makes it the orchestrator's segment; the rest are its subsegments).
        kind = SpanKind.SERVER if name == spans.REQUEST else SpanKind.INTERNAL
        with self._tracer.start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                self.record(name, start)

    def add_delivery(self, started: float) -> None:
        """Count one frame's send time toward ``response-streaming``.

        The seed's ``response-streaming`` (5-15 ms) is the cost of delivering the stream,
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
