"""The bottleneck detector against a real moto server: X-Ray segment documents in,
CloudWatch metrics and alarm states out."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import AsyncIterator

import aioboto3
import boto3
import pytest

from mangaassist.common import spans as s
from mangaassist.devtools.cluster import LOCAL_AWS_ENV
from mangaassist.observability.detector import CloudWatchSink, XRaySource, run_once

pytestmark = pytest.mark.integration

REGION = LOCAL_AWS_ENV["AWS_DEFAULT_REGION"]


def segment_document(now: float, rng: random.Random, slow_search: bool) -> dict[str, object]:
    """An X-Ray segment like the ADOT collector writes for one request (our span names)."""
    trace_id = f"1-{int(now):08x}-{os.urandom(12).hex()}"
    t = now - 2.0
    search = (0.5 if slow_search else 0.04) * (1 + 0.2 * rng.random())
    parallel = search + 0.002
    bedrock = 0.3 + 0.1 * rng.random()

    def sub(
        name: str, start: float, duration: float, children: list[dict[str, object]] | None = None
    ) -> dict[str, object]:
        return {
            "name": name,
            "id": os.urandom(8).hex(),
            "start_time": start,
            "end_time": start + duration,
            "subsegments": children or [],
        }

    parallel_sub = sub(
        s.PARALLEL_RETRIEVAL,
        t + 0.001,
        parallel,
        [sub(s.VECTOR_SEARCH, t + 0.001, search), sub(s.SESSION_LOAD, t + 0.001, 0.004)],
    )
    root = sub(
        s.REQUEST,
        t,
        0.001 + parallel + 0.002 + bedrock,
        [
            sub(s.API_GATEWAY, t, 0.0005),
            parallel_sub,
            sub(s.INTENT, t + 0.005, 0.002),
            sub(s.PROMPT_ASSEMBLY, t + 0.001 + parallel, 0.001),
            sub(s.BEDROCK_INVOKE, t + 0.002 + parallel, bedrock),
        ],
    )
    return {**root, "trace_id": trace_id}


@pytest.fixture
async def clients(moto_url: str, aws_env: None) -> AsyncIterator[tuple[object, object]]:
    session = aioboto3.Session()
    async with (
        session.client("xray", endpoint_url=moto_url, region_name=REGION) as xray,
        session.client("cloudwatch", endpoint_url=moto_url, region_name=REGION) as cloudwatch,
    ):
        yield xray, cloudwatch


async def test_slow_vector_search_is_named_and_alarmed(moto_url: str, clients: tuple[object, object]) -> None:
    xray, cloudwatch = clients
    sync_xray = boto3.client("xray", endpoint_url=moto_url, region_name=REGION)
    now, rng = time.time(), random.Random(3)
    docs = [json.dumps(segment_document(now, rng, slow_search=True)) for _ in range(60)]
    sync_xray.put_trace_segments(TraceSegmentDocuments=docs)

    analysis = await run_once(XRaySource(xray), CloudWatchSink(cloudwatch), now - 60, now + 60)
    assert analysis.requests == 60
    assert analysis.bottleneck == s.BEDROCK_INVOKE or s.VECTOR_SEARCH in analysis.violations
    assert s.VECTOR_SEARCH in analysis.violations and s.SESSION_LOAD not in analysis.violations

    cw = boto3.client("cloudwatch", endpoint_url=moto_url, region_name=REGION)
    states = {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms()["MetricAlarms"]}
    assert states[f"mangaassist-latency-{s.VECTOR_SEARCH}"] == "ALARM"
    assert states[f"mangaassist-latency-{s.SESSION_LOAD}"] == "OK"
    metrics = cw.list_metrics(Namespace="MangaAssist/Latency")["Metrics"]
    assert {"Name": "Segment", "Value": s.VECTOR_SEARCH} in [d for m in metrics for d in m["Dimensions"]]
