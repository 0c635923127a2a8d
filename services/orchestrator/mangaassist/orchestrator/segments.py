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
from opentelemetry.trace import Span, Status, StatusCode, Tracer


class Segments:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.timings_ms: dict[str, float] = {}

    @contextmanager
    def segment(
        self,
        name: str,
        attributes: dict[str, Any] | None = None,
        parent: otel_context.Context | None = None,
    ) -> Iterator[Span]:
        """Time ``name`` as a child of the current span (or of ``parent``)."""
        start = time.perf_counter()
        with self._tracer.start_as_current_span(
            name, context=parent, attributes=attributes, record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                self.record(name, start)

    def record(self, name: str, start: float, end: float | None = None) -> None:
        """Store ``name``'s wall time from ``start`` (a ``perf_counter`` reading)."""
        self.timings_ms[name] = round(((end or time.perf_counter()) - start) * 1000, 3)
