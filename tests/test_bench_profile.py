"""The profile and load-harness arithmetic the cost-per-answer pages are built from, on known
inputs (no process is started): py-spy ``--native`` stacks with waiting threads left out,
and token frames per answer beside the CPU per answer."""

from __future__ import annotations

from pathlib import Path

from bench.mesh_load import judge
from bench.profile_stacks import breakdown

LOOP = (
    "<module> (/r/services/orchestrator/mangaassist/orchestrator/__main__.py:120);run (uvloop/__init__.py:82);"
    "run (asyncio/runners.py:118);uv_run (core.c:0)"
)
TELEMETRY = (
    "Thread._bootstrap (threading.py:995);Thread.run (threading.py:975);"
    "BatchProcessor.worker (opentelemetry/sdk/_shared_internal/__init__.py:1)"
)


def test_native_stacks_drop_waiting_threads_and_bucket_c_frames(tmp_path: Path) -> None:
    raw = tmp_path / "closed-16-orchestrator.txt"
    raw.write_text(
        "\n".join(
            [
                f"{LOOP};epoll_wait (libc.so.6) 50",  # the event loop waiting: idle, left out
                f"{TELEMETRY};wait (threading.py:320);PyThread_acquire_lock_timed (libpython3.11.so.1.0) 30",  # idle
                f"{LOOP};_write (/r/services/orchestrator/mangaassist/orchestrator/outbox.py:96);"
                "send (websockets/asyncio/connection.py:450);write (libc.so.6) 30",
                f"{LOOP};load (/r/services/orchestrator/mangaassist/orchestrator/dynamo.py:182);"
                "_make_api_call (aiobotocore/client.py:340) 40",
                f"{TELEMETRY};_export (opentelemetry/exporter/otlp/proto/grpc/exporter.py:1) 10",
                f"{LOOP};task_step_impl (_asynciomodule.c:0) 20",
            ]
        )
        + "\n"
    )
    shares = breakdown(raw)
    assert shares == {
        "AWS SDK calls (aiobotocore: DynamoDB here, Bedrock in inference)": 40.0,
        "WebSocket send (per frame)": 30.0,
        "event loop and gRPC core (C)": 20.0,
        "telemetry export (OTel threads)": 10.0,
    }


def test_a_level_reports_token_frames_per_answered_question() -> None:
    answered = {"ok": True, "e2e": 900.0, "ttft": 200.0, "overhead": 50.0, "cache_hit": False, "timings": {}}
    out = [
        {**answered, "token_frames": 10},
        {**answered, "token_frames": 20},
        {"ok": False, "error": "timeout: the model did not start answering in time", "gone": False},
    ]
    result = judge(out, wall=2.0, cpu={"orchestrator": 0.06})
    assert result["token_frames_per_answer"] == 15.0
    assert result["cpu_ms_per_answer"]["orchestrator"] == 30.0  # 60 ms over the 2 answered questions
    assert result["error_rate"] == 1 / 3 and not result["held"]
