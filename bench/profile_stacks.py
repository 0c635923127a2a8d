"""Where a process's CPU goes, from ``py-spy record --format raw`` files (collapsed stacks).

    python -m bench.profile_stacks FILE [FILE ...] [--json OUT] [--cpu-ms-per-answer MS]

Each sample is put in the first bucket (below, in order) that any frame of its stack
matches, so the shares add up to 100 %; samples whose innermost frame is the event loop
itself (``Runner.run``: uvloop, and gRPC's C core called from it) form their own bucket.

Without ``--native`` py-spy cannot see below ``Runner.run`` and its idle detection there is
loose (a 16-session level gave more "busy" samples than the process had CPU seconds). With
``--native`` stacks (``bench.mesh_load --profile-native``) the innermost C frame says when a
thread was waiting (``epoll_wait``, a lock or condition wait): those samples are dropped
as idle, and the C frames are bucketed too (the socket ``write`` of a WebSocket frame, the
``connect`` of a DynamoDB call). ``--cpu-ms-per-answer`` turns the shares into ms per
answer (the process's CPU per answer from the same level of ``bench.mesh_load``).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

# (bucket, pattern matched against "path:function" of any frame), first match wins.
BUCKETS: list[tuple[str, str]] = [
    ("telemetry export (OTel threads)", r"BatchProcessor|PeriodicExportingMetricReader|trace_exporter"),
    (
        "DynamoDB: a TCP connection per call (moto answers Connection: close)",
        r"TCPConnector\._create_connection|aiohappyeyeballs",
    ),
    ("exception tracebacks formatted (span.record_exception, logging)", r"traceback\.py|linecache"),
    ("log lines (JSON formatter)", r"logging/__init__\.py|common/logging\.py"),
    (
        "AWS SDK calls (aiobotocore: DynamoDB here, Bedrock in inference)",
        r"dynamo\.py|aiodynamo/|aiobotocore|botocore|aiohttp/",
    ),
    ("answer cache (Redis)", r"cache/redis_cache|redis/"),
    ("WebSocket send (per frame)", r"websockets/asyncio/connection\.py:Connection\.send|outbox\.py"),
    (
        "model stream read (gRPC, per message)",
        r"_StreamResponseMixin|UnaryStreamCall|_TracedUnaryStream|Responder\.stream|send_token",
    ),
    # The intercepted calls of before decision 0011, and the traced methods (grpc_client.py) after it.
    (
        "unary gRPC calls (intent, retrieval)",
        r"UnaryUnaryCall|UnaryUnaryMultiCallable|_TracedUnaryUnary|_TracedUnaryCall",
    ),
    ("Bedrock stream parse (eventstream)", r"eventstream"),
    (
        "spans and metrics (OTel SDK, in the request)",
        r"opentelemetry|segments\.py|metrics\.py|trace/__init__|sdk/trace|metrics/_internal|_decorator\.py",
    ),
    ("after-answer jobs (tenacity retry wrapper, PII masking)", r"tenacity|postprocess\.py|pii\.py"),
    ("WebSocket receive / handshake", r"websockets/"),
    ("request pipeline (own code)", r"mangaassist/[\w/]+\.py:(?!<module>)"),
]


# Innermost native frames of a thread that is waiting, not working (``--native`` stacks).
IDLE = re.compile(r"epoll_wait|epoll_pwait|PyThread_acquire_lock|Condition\.wait|Event\.wait|select\.py")


def key(frame: str) -> str:
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    path = re.sub(r".*site-packages/", "", path)
    path = re.sub(r".*/(mangaassist/)", r"\1", path)
    return f"{path}:{function}"


def breakdown(path: Path) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = [key(f) for f in stack.split(";")]
        if any(IDLE.search(f) for f in frames[-3:]) or any("Condition.wait" in f for f in frames):
            continue  # a waiting thread (only --native stacks show it)
        bucket = next((name for name, pattern in BUCKETS if any(re.search(pattern, f) for f in frames)), None)
        if bucket is None:
            # Nothing of ours or of a library we name: the event loop itself, gRPC's C core,
            # the interpreter (a C frame or ``Runner.run`` innermost), or unnamed Python.
            innermost = frames[-1]
            bucket = (
                "event loop and gRPC core (C)"
                if innermost.endswith("Runner.run") or ".py:" not in innermost
                else "other"
            )
        counts[bucket] += int(n)
    total = sum(counts.values()) or 1
    return {name: round(100 * c / total, 1) for name, c in counts.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--cpu-ms-per-answer",
        type=float,
        default=None,
        help="the process's CPU per answer: shares are also given as ms per answer",
    )
    args = parser.parse_args()
    out = {}
    for path in args.files:
        out[path.stem] = breakdown(path)
        print(f"\n## {path.stem} (% of non-idle samples)")
        for name, share in out[path.stem].items():
            ms = f"  {share * args.cpu_ms_per_answer / 100:5.2f} ms/answer" if args.cpu_ms_per_answer else ""
            print(f"{share:6.1f}{ms}  {name}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
