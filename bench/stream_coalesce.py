"""Coalescing stream deltas, side by side: one delta per message, the first window (16 ms /
64 characters) and the default one (48 ms / 256 characters, decision 0006).

The inference servicer on a real ``grpc.aio`` server with the production Bedrock backend
against the emulator (default latency profile) in its own process; 32 concurrent answers
per cell, cells interleaved (the three settings in turn, repeated ``--reps`` times).
Per cell: gRPC messages per answer, CPU per answer of this process (servicer and client —
the same client work on both sides), time to first token (client-side) p50 / p95.

    python -m bench.stream_coalesce [--reps 3] [--answers 32]

Writes ``bench/results/stream_coalesce.json``. Numbers, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from bench.common import pct, save_result, stamp
from mangaassist.devtools.emulator import EmulatorProcess
from mangaassist.inference.bedrock import BedrockBackend
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.service import InferenceServicer, local_output_check
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc

PRODUCT = common_pb2.Product(
    asin="B0BENCH001",
    title="ベルセルク",
    authors=["三浦建太郎"],
    genres=["fantasy"],
    price_jpy=748,
    in_stock=True,
    synopsis_short="傭兵ガッツの復讐の旅。",
)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def cell(emulator: EmulatorProcess, window_ms: float, chars: int, answers: int) -> dict[str, Any]:
    settings = InferenceSettings(
        bedrock_endpoint_url=emulator.url, stream_coalesce_ms=window_ms, stream_coalesce_chars=chars
    )
    backend = BedrockBackend(settings)
    await backend.start()
    server = grpc.aio.server()
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(
        InferenceServicer(backend, settings, local_output_check), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    messages = 0
    ttfts: list[float] = []
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)

            async def one(i: int) -> None:
                nonlocal messages
                prompt = inference_pb2.PromptParts(
                    question=f"おすすめのダークファンタジーは？ ({i})",
                    language="ja",
                    intent="product_recommendation",
                    products=[PRODUCT],
                )
                sent, first = time.perf_counter(), None
                async for m in stub.Generate(inference_pb2.GenerateRequest(model="haiku", prompt=prompt), timeout=30):
                    if m.HasField("token"):
                        messages += 1
                        first = first or time.perf_counter()
                ttfts.append(((first or time.perf_counter()) - sent) * 1000)

            await one(-1)  # warm: connections, lazy imports
            messages, ttfts = 0, []
            started = cpu_s()
            await asyncio.gather(*(one(i) for i in range(answers)))
            cpu = (cpu_s() - started) * 1000 / answers
    finally:
        await server.stop(0)
        await backend.close()
    return {
        "messages_per_answer": messages / answers,
        "cpu_ms_per_answer": cpu,
        "ttft_p50_ms": pct(ttfts, 50),
        "ttft_p95_ms": pct(ttfts, 95),
    }


async def run(reps: int, answers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as logs:
        emulator = EmulatorProcess(Path(logs) / "emulator.log", MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE="seed")
        try:
            default = InferenceSettings()
            settings = {
                "one_delta_per_message": (0.0, 1),
                "coalesced_16ms_64chars": (16.0, 64),
                f"coalesced_{default.stream_coalesce_ms:g}ms_{default.stream_coalesce_chars}chars_default": (
                    default.stream_coalesce_ms,
                    default.stream_coalesce_chars,
                ),
            }
            cells: dict[str, list[dict[str, Any]]] = {name: [] for name in settings}
            for _ in range(reps):
                for name, (window_ms, chars) in settings.items():
                    cells[name].append(await cell(emulator, window_ms, chars, answers))
        finally:
            emulator.stop()
    summary = {
        name: {key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]}
        for name, rows in cells.items()
    }
    return {"reps": reps, "answers_per_cell": answers, "median_of_reps": summary, "runs": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--answers", type=int, default=32)
    args = parser.parse_args()
    result = asyncio.run(run(args.reps, args.answers))
    for name, row in result["median_of_reps"].items():
        print(
            f"{name:<36} {row['messages_per_answer']:6.1f} msgs/answer  CPU {row['cpu_ms_per_answer']:6.2f} ms/answer  "
            f"TTFT p50 {row['ttft_p50_ms']:6.1f} ms  p95 {row['ttft_p95_ms']:6.1f} ms"
        )
    save_result({**stamp("stream_coalesce"), "shared_box": True, **result})


if __name__ == "__main__":
    main()
