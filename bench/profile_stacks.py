"""Where a process's CPU goes, from ``py-spy record --format raw`` files (collapsed stacks).

    python -m bench.profile_stacks FILE [FILE ...] [--json OUT]

Each sample is put in the first bucket (below, in order) that any frame of its stack
matches, so the shares add up to 100 %; samples whose innermost frame is the event loop
itself (``Runner.run``: uvloop, and gRPC's C core called from it) form their own bucket.
py-spy counts only samples in which a thread was not idle.
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
    ("exception tracebacks formatted (span.record_exception, logging)", r"traceback\.py|linecache"),
    ("AWS SDK calls (aiobotocore: DynamoDB here, Bedrock in inference)", r"dynamo\.py|aiobotocore|botocore|aiohttp/"),
    ("answer cache (Redis)", r"cache/redis_cache|redis/"),
    ("WebSocket send (per frame)", r"websockets/asyncio/connection\.py:Connection\.send"),
    ("model stream read (gRPC, per message)", r"_StreamResponseMixin|UnaryStreamCall"),
    ("unary gRPC calls (intent, retrieval)", r"UnaryUnaryCall|_UnaryUnaryMultiCallable"),
    ("Bedrock stream parse (eventstream)", r"eventstream"),
    ("spans and metrics (OTel SDK, in the request)", r"opentelemetry|segments\.py|metrics\.py"),
    ("WebSocket receive / handshake", r"websockets/"),
    ("request pipeline (own code)", r"mangaassist/"),
]


def key(frame: str) -> str:
    match = re.match(r"(.*) \((.*?):\d+\)", frame)
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
        bucket = "event loop and gRPC core (C)" if frames[-1].endswith("Runner.run") else "other"
        if bucket == "other":
            for name, pattern in BUCKETS:
                if any(re.search(pattern, f) for f in frames):
                    bucket = name
                    break
        counts[bucket] += int(n)
    total = sum(counts.values()) or 1
    return {name: round(100 * c / total, 1) for name, c in counts.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    out = {}
    for path in args.files:
        out[path.stem] = breakdown(path)
        print(f"\n## {path.stem} (% of non-idle samples)")
        for name, share in out[path.stem].items():
            print(f"{share:6.1f}  {name}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
