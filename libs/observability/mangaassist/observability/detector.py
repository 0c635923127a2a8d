"""Automated bottleneck detection: every N minutes, read the last window of traces, compare
each segment's p95 with its budget, publish the numbers to CloudWatch and raise (or clear)
one alarm per segment (docs/decisions/0008-budgets-pools-breakers.md).

Trace sources: the local trace receiver (``make up``) or AWS X-Ray
(``GetTraceSummaries`` + ``BatchGetTraces``). Sink: CloudWatch (``PutMetricData`` for
p95 per segment and the bottleneck, ``PutMetricAlarm`` once per segment, and the alarm
state set from the analysis so it flips without waiting for an evaluation period).
It also keeps the last few unperturbed windows and names a segment that got slower than
them (``budgets.blame``: median beyond noise and ≥ 1.5×), published as ``SlowdownBlamed``.

    python -m mangaassist.observability.detector        # settings: MANGAASSIST_DETECTOR_*
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections import deque
from collections.abc import Iterable
from contextlib import AsyncExitStack
from typing import Any, Literal, Protocol

import aioboto3
from botocore.config import Config
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mangaassist.common.settings import ServiceSettings
from mangaassist.observability.budgets import BUDGETS, Analysis, Record, analyze, blame, records_from_spans

logger = logging.getLogger(__name__)
NAMESPACE = "MangaAssist/Latency"
METRIC = "SegmentP95"


class DetectorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_DETECTOR_")

    source: Literal["receiver", "xray"] = "receiver"
    receiver_url: str = "http://127.0.0.1:4319/spans"
    interval_s: float = 300.0
    window_s: float = 300.0
    xray_endpoint_url: str | None = None
    cloudwatch_endpoint_url: str | None = None
    namespace: str = NAMESPACE
    # Alarm names are ``<alarm_prefix>-latency-<segment>``. ``create_alarms``: create them on the
    # first publish (PutMetricAlarm); off where the stack owns them (CDK) and the detector only
    # sets their state, so its role needs no PutMetricAlarm.
    alarm_prefix: str = "mangaassist"
    create_alarms: bool = True
    # Unperturbed windows kept as "normal" for the slowdown check (0 turns it off).
    history_windows: int = Field(default=3, ge=0)


class TraceSource(Protocol):
    async def fetch(self, start: float, end: float) -> list[Record]:
        """Request records (segment → ms) of the traces between ``start`` and ``end`` (epoch s)."""
        ...


class ReceiverSource:
    def __init__(self, url: str) -> None:
        self._url = url

    async def fetch(self, start: float, end: float) -> list[Record]:
        def get() -> list[dict[str, Any]]:
            with urllib.request.urlopen(f"{self._url}?since_ns={int(start * 1e9)}", timeout=10) as resp:
                spans: list[dict[str, Any]] = json.loads(resp.read())["spans"]
                return spans

        spans = await asyncio.to_thread(get)
        records: list[Record] = [*records_from_spans(s for s in spans if s["start_ns"] <= end * 1e9)]
        return records


def _flatten(document: dict[str, Any], into: dict[str, float]) -> None:
    """Segment/subsegment durations by name (the enclosing one wins for repeated names)."""
    if "start_time" in document and "end_time" in document:
        ms = (float(document["end_time"]) - float(document["start_time"])) * 1000
        into[str(document["name"])] = max(into.get(str(document["name"]), 0.0), ms)
    for sub in document.get("subsegments", []):
        _flatten(sub, into)


class XRaySource:
    """Traces from X-Ray (what the ADOT collector exported) through an aioboto3 client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def fetch(self, start: float, end: float) -> list[Record]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {"StartTime": start, "EndTime": end, "Sampling": False}
        while True:
            page = await self._client.get_trace_summaries(**kwargs)
            ids += [t["Id"] for t in page.get("TraceSummaries", [])]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        records: list[Record] = []
        for i in range(0, len(ids), 5):  # BatchGetTraces takes at most 5 ids
            reply = await self._client.batch_get_traces(TraceIds=ids[i : i + 5])
            for trace in reply.get("Traces", []):
                record: dict[str, float] = {}
                for segment in trace.get("Segments", []):
                    _flatten(json.loads(segment["Document"]), record)
                records.append(record)
        return records


class CloudWatchSink:
    def __init__(
        self, client: Any, namespace: str = NAMESPACE, alarm_prefix: str = "mangaassist", create_alarms: bool = True
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._alarm_prefix = alarm_prefix
        self._alarms_ready = not create_alarms

    async def _ensure_alarms(self) -> None:
        for budget in BUDGETS.values():
            await self._client.put_metric_alarm(
                AlarmName=f"{self._alarm_prefix}-latency-{budget.segment}",
                AlarmDescription=f"p95 of {budget.segment} above its {budget.budget_ms:g} ms budget by > {budget.alert_pct:g} %",
                Namespace=self._namespace,
                MetricName=METRIC,
                Dimensions=[{"Name": "Segment", "Value": budget.segment}],
                Statistic="Maximum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=budget.budget_ms * (1 + budget.alert_pct / 100),
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
            )
        self._alarms_ready = True

    async def publish(self, analysis: Analysis) -> None:
        if not self._alarms_ready:
            await self._ensure_alarms()
        data = [
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "Segment", "Value": name}],
                "Value": row["p95"],
                "Unit": "Milliseconds",
            }
            for name, row in analysis.segments.items()
        ]
        if analysis.bottleneck:
            data.append(
                {
                    "MetricName": "BottleneckShare",
                    "Dimensions": [{"Name": "Segment", "Value": analysis.bottleneck}],
                    "Value": analysis.bottleneck_share * 100,
                    "Unit": "Percent",
                }
            )
        if analysis.slowdown:
            data.append(
                {
                    "MetricName": "SlowdownBlamed",
                    "Dimensions": [{"Name": "Segment", "Value": analysis.slowdown}],
                    "Value": 1,
                    "Unit": "Count",
                }
            )
        for i in range(0, len(data), 20):
            await self._client.put_metric_data(Namespace=self._namespace, MetricData=data[i : i + 20])
        for name in BUDGETS:
            if name not in analysis.segments:
                continue
            over = name in analysis.violations
            row = analysis.segments[name]
            await self._client.set_alarm_state(
                AlarmName=f"{self._alarm_prefix}-latency-{name}",
                StateValue="ALARM" if over else "OK",
                StateReason=f"p95 {row['p95']:.1f} ms vs budget {row.get('budget_ms', 0):g} ms "
                f"over the last window ({int(row['n'])} requests)",
            )


async def run_once(
    source: TraceSource,
    sink: CloudWatchSink | None,
    start: float,
    end: float,
    history: deque[list[Record]] | None = None,
) -> Analysis:
    """Analyse one window. With ``history`` (recent unperturbed windows, ≥ 2 of them), also
    name the segment that got slower (``budgets.blame``); a window without a slowdown
    joins the history, one with a slowdown does not, so it keeps alarming until fixed."""
    records = await source.fetch(start, end)
    analysis = analyze(records)
    if history is not None and records:
        if len(history) >= 2:
            analysis.slowdown = blame(list(history), records).segment
        if analysis.slowdown is None:
            history.append(list(records))
    if sink is not None and records:
        await sink.publish(analysis)
    logger.info(
        "latency window analysed",
        extra={
            "requests": analysis.requests,
            "bottleneck": analysis.bottleneck,
            "violations": analysis.violations,
            "slowdown": analysis.slowdown,
        },
    )
    return analysis


def _clients_config(settings: DetectorSettings) -> Config:
    return Config(region_name=settings.aws_region, retries={"max_attempts": 3, "mode": "adaptive"})


async def main_loop(settings: DetectorSettings, iterations: Iterable[int] | None = None) -> None:
    async with AsyncExitStack() as stack:
        session = aioboto3.Session()
        config = _clients_config(settings)
        cloudwatch = await stack.enter_async_context(
            session.client("cloudwatch", endpoint_url=settings.cloudwatch_endpoint_url, config=config)
        )
        source: TraceSource
        if settings.source == "xray":
            xray = await stack.enter_async_context(
                session.client("xray", endpoint_url=settings.xray_endpoint_url, config=config)
            )
            source = XRaySource(xray)
        else:
            source = ReceiverSource(settings.receiver_url)
        sink = CloudWatchSink(cloudwatch, settings.namespace, settings.alarm_prefix, settings.create_alarms)
        history: deque[list[Record]] | None = (
            deque(maxlen=settings.history_windows) if settings.history_windows else None
        )
        for _ in iterations if iterations is not None else iter(int, 1):
            end = time.time()
            try:
                await run_once(source, sink, end - settings.window_s, end, history)
            except Exception as exc:
                logger.error("detector run failed", extra={"error": type(exc).__name__})
            await asyncio.sleep(settings.interval_s)


if __name__ == "__main__":
    from mangaassist.common.logging import setup_logging

    detector_settings = DetectorSettings()
    setup_logging("detector", detector_settings.log_level)
    asyncio.run(main_loop(detector_settings))
