"""The detector's CloudWatch writes as a deployed stack runs them: alarms named with the stack's
prefix, and none created where the stack owns them (so its role needs no PutMetricAlarm).
The CloudWatch client is an in-memory fake (unit test) that records the calls it gets."""

from __future__ import annotations

from typing import Any

from mangaassist.observability.budgets import analyze
from mangaassist.observability.detector import CloudWatchSink, DetectorSettings


class RecordingCloudWatch:
    """Fake: records every call by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(**kwargs: Any) -> dict[str, Any]:
            self.calls.append((name, kwargs))
            return {}

        return call


async def test_a_stack_owned_detector_sets_its_stacks_alarms_and_creates_none() -> None:
    cloudwatch = RecordingCloudWatch()
    sink = CloudWatchSink(cloudwatch, "Staging/Latency", alarm_prefix="staging", create_alarms=False)
    await sink.publish(analyze([{"vector-search": 400.0, "manga-assist-request": 900.0}] * 20))
    names = [name for name, _ in cloudwatch.calls]
    assert "put_metric_alarm" not in names and "put_metric_data" in names
    states = {kw["AlarmName"]: kw["StateValue"] for name, kw in cloudwatch.calls if name == "set_alarm_state"}
    assert states["staging-latency-vector-search"] == "ALARM"  # 400 ms against a 150 ms budget
    assert all(n.startswith("staging-latency-") for n in states)
    assert {kw["Namespace"] for name, kw in cloudwatch.calls if name == "put_metric_data"} == {"Staging/Latency"}


async def test_by_default_it_creates_its_alarms_once_with_the_old_names() -> None:
    cloudwatch = RecordingCloudWatch()
    sink = CloudWatchSink(cloudwatch)
    for _ in range(2):
        await sink.publish(analyze([{"vector-search": 100.0}] * 20))
    created = [kw["AlarmName"] for name, kw in cloudwatch.calls if name == "put_metric_alarm"]
    assert "mangaassist-latency-vector-search" in created and len(created) == len(set(created))
    assert DetectorSettings().create_alarms and DetectorSettings().alarm_prefix == "mangaassist"
