"""Metric instruments: contract segment names only, bounded attributes, millisecond buckets.

Read back through the SDK's in-memory reader (a unit-test reader, not an exporter)."""

from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from mangaassist.common import spans as s
from mangaassist.common.metrics import (
    ASYNCIO_TASKS,
    LATENCY_BUCKETS_MS,
    REQUESTS,
    RPC_REQUESTS,
    SEGMENT_DURATION,
    WS_CONNECTIONS,
    WS_INFLIGHT,
    MeshMetrics,
    export_configured,
    observe_asyncio_tasks,
    observe_websocket_work,
)


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        m.name: list(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }


def make() -> tuple[MeshMetrics, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return MeshMetrics(MeterProvider(metric_readers=[reader]).get_meter("t")), reader


def test_segments_use_contract_names_and_ms_buckets() -> None:
    m, reader = make()
    m.segments({s.INTENT: 1.2, s.VECTOR_SEARCH: 12.0, "dense_ms": 3.0, "おすすめ": 1.0})
    m.segment(s.INTENT, 40.0)
    got = points(reader)[SEGMENT_DURATION]
    by_segment = {p.attributes["segment"]: p for p in got}
    assert set(by_segment) == {s.INTENT, s.VECTOR_SEARCH}
    intent = by_segment[s.INTENT]
    assert intent.count == 2 and intent.sum == 41.2
    assert tuple(intent.explicit_bounds) == LATENCY_BUCKETS_MS
    assert intent.bucket_counts[LATENCY_BUCKETS_MS.index(2)] == 1  # 1.2 ms lands in (1, 2]


def test_request_attributes_are_bounded() -> None:
    m, reader = make()
    m.request(intent="product_search", model="haiku", cache_hit=True, outcome="ok")
    m.request(intent="made-up intent with customer words", model="gpt-x", cache_hit=None, outcome="timeout")
    m.request(intent=None, model=None, cache_hit=False, outcome="unavailable")
    attrs = sorted((dict(p.attributes) for p in points(reader)[REQUESTS]), key=lambda a: str(a["outcome"]))
    assert attrs == [
        {"intent": "product_search", "model": "haiku", "cache_hit": True, "outcome": "ok"},
        {"intent": "other", "model": "other", "cache_hit": False, "outcome": "timeout"},
        {"intent": "unknown", "model": "unknown", "cache_hit": False, "outcome": "unavailable"},
    ]


def test_rpc_counts_and_times_contract_segments() -> None:
    m, reader = make()
    m.rpc(s.VECTOR_SEARCH, 3.0, "OK")
    m.rpc(s.VECTOR_SEARCH, 4.0, "INVALID_ARGUMENT")
    m.rpc("/some.Service/Method", 1.0, "OK")
    got = points(reader)
    assert sorted((p.attributes["outcome"], p.value) for p in got[RPC_REQUESTS]) == [("INVALID_ARGUMENT", 1), ("OK", 1)]
    assert [p.attributes["segment"] for p in got[SEGMENT_DURATION]] == [s.VECTOR_SEARCH]


def test_export_follows_the_standard_variables(monkeypatch: Any) -> None:
    for key in ("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    assert not export_configured()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:4317")
    assert export_configured()
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    assert not export_configured()


def test_websocket_work_gauges_read_the_live_counts() -> None:
    reader = InMemoryMetricReader()
    state = {"connections": 3, "inflight": 1}
    observe_websocket_work(
        lambda: state["connections"], lambda: state["inflight"], MeterProvider(metric_readers=[reader]).get_meter("t")
    )
    got = points(reader)
    assert [p.value for p in got[WS_CONNECTIONS]] == [3] and [p.value for p in got[WS_INFLIGHT]] == [1]
    assert not got[WS_CONNECTIONS][0].attributes  # no attributes: one CloudWatch series per service
    state.update(connections=0, inflight=0)
    got = points(reader)
    assert [p.value for p in got[WS_CONNECTIONS]] == [0] and [p.value for p in got[WS_INFLIGHT]] == [0]


async def test_the_asyncio_tasks_gauge_counts_the_loops_live_tasks() -> None:
    reader = InMemoryMetricReader()
    observe_asyncio_tasks(asyncio.get_running_loop(), MeterProvider(metric_readers=[reader]).get_meter("t"))
    before = points(reader)[ASYNCIO_TASKS][0].value
    gate = asyncio.Event()
    waiting = [asyncio.create_task(gate.wait()) for _ in range(5)]
    await asyncio.sleep(0)
    assert points(reader)[ASYNCIO_TASKS][0].value == before + 5
    gate.set()
    await asyncio.gather(*waiting)
    assert points(reader)[ASYNCIO_TASKS][0].value == before
