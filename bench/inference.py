"""Inference benchmark: the Bedrock latency levers (keep-alive, pre-warm,
payload), each measured.

Starts the Bedrock emulator (zero latency: only our own cost is measured) and the
inference service as real processes, then measures side by side in one run:

1. time-to-first-token overhead of the inference service: a gRPC client of the service
   vs aioboto3 straight to the emulator, same conversation, interleaved;
2. connections the emulator saw for N sequential requests through the service;
3. the first request after start vs steady state, with pre-warm on and off (restarts
   interleaved);
4. prompt bytes/tokens with payload minimisation vs full catalog documents and history;
5. the local output guardrail on a 1,000-character answer.

Prints tables and writes ``bench/results/inference.json``. It never fails on a number.

    python -m bench.inference [--requests 1000] [--restarts 5]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import aioboto3
import grpc
import numpy as np
import orjson
import uvloop
from aiobotocore.config import AioConfig

from bench.common import REPO, save_result, stamp, whole_number_options
from mangaassist.devtools.cluster import free_port, grpc_status
from mangaassist.devtools.emulator import EmulatorProcess
from mangaassist.devtools.procs import stop_process
from mangaassist.inference.backend import Conversation, Finished
from mangaassist.inference.bedrock import BedrockBackend
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.guardrails import check_input, check_output
from mangaassist.inference.prompt import estimate_tokens, render
from mangaassist.inference.service import InferenceServicer, local_output_check
from mangaassist.orchestrator.stages.catalog import CARD_FIELDS  # what a product card carries
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc
from mangaassist.retrieval.catalog import products_from_series

SERIES = REPO / "services" / "retrieval" / "mangaassist" / "retrieval" / "data" / "series.json"
SERVICE = "mangaassist.inference.v1.InferenceService"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def catalog_products(n: int) -> list[dict[str, Any]]:
    return products_from_series(json.loads(SERIES.read_text()))[:n]


def to_proto(p: dict[str, Any]) -> common_pb2.Product:
    out = common_pb2.Product()
    for name in CARD_FIELDS:
        if name in p and p[name] is not None:
            value = p[name]
            if isinstance(value, list):
                getattr(out, name).extend(value)
            else:
                setattr(out, name, value)
    return out


def sample_prompt(products: list[dict[str, Any]], history_turns: int = 0) -> inference_pb2.PromptParts:
    history = []
    for i in range(history_turns):
        history.append(common_pb2.Turn(role="user", text=f"Earlier question {i} about fantasy manga under ¥1,000?"))
        history.append(common_pb2.Turn(role="assistant", text="Here are some picks. " * 20))
    return inference_pb2.PromptParts(
        question="Recommend a dark fantasy manga",
        language="en",
        intent="product_recommendation",
        products=[to_proto(p) for p in products],
        history=history,
    )


class Service:
    """The inference service as a process pointed at the emulator."""

    def __init__(self, emulator_url: str, log: Path, prewarm: bool) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "MANGAASSIST_INFERENCE_PORT": str(self.port),
            "MANGAASSIST_INFERENCE_BEDROCK_ENDPOINT_URL": emulator_url,
            "MANGAASSIST_INFERENCE_PREWARM": "true" if prewarm else "false",
            "MANGAASSIST_INFERENCE_LOG_LEVEL": "WARNING",
        }
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mangaassist.inference"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while grpc_status(self.address, SERVICE) != "SERVING":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("inference did not start: " + log.read_text()[-2000:])
            time.sleep(0.02)

    def stop(self) -> None:
        stop_process(self.proc, 20)


async def generate(stub: inference_pb2_grpc.InferenceServiceAsyncStub, prompt: inference_pb2.PromptParts) -> float:
    """Time to the first token (ms) of one Generate call, reading it to the end."""
    started = time.perf_counter()
    first: float | None = None
    async for message in stub.Generate(inference_pb2.GenerateRequest(model="haiku", prompt=prompt), timeout=30):
        if first is None and message.HasField("token"):
            first = time.perf_counter()
    return ((first or time.perf_counter()) - started) * 1000


class TimedBackend:
    """Wraps the real backend to timestamp when the servicer calls it and its first text event."""

    def __init__(self, inner: BedrockBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.called = self.first_event = 0.0

    async def start(self) -> None:
        await self.inner.start()

    async def warm_up(self) -> None:
        await self.inner.warm_up()

    async def close(self) -> None:
        await self.inner.close()

    async def stream(
        self, model: str, conversation: Conversation, max_tokens: int, fail_fast: bool = False
    ) -> AsyncGenerator[str | Finished, None]:
        self.called, self.first_event = time.perf_counter(), 0.0
        async for event in self.inner.stream(model, conversation, max_tokens, fail_fast):
            if not self.first_event and isinstance(event, str):
                self.first_event = time.perf_counter()
            yield event


async def in_process(
    servicer: InferenceServicer, timed: TimedBackend, prompt: inference_pb2.PromptParts
) -> tuple[float, float]:
    """(time to first token, the servicer's own share of it) in ms, no gRPC hop.

    The share is the time before the backend is called (validation, input guardrail,
    prompt rendering) plus the time from the backend's first text to the servicer's
    first yielded token.
    """
    started = time.perf_counter()
    first: float | None = None
    request = inference_pb2.GenerateRequest(model="haiku", prompt=prompt)
    async for message in servicer.Generate(request, None):  # type: ignore[arg-type]
        if first is None and message.HasField("token"):
            first = time.perf_counter()
    first = first or time.perf_counter()
    own = (timed.called - started) + (first - timed.first_event)
    return (first - started) * 1000, own * 1000


async def direct(client: Any, conversation: Any) -> float:
    """Time to the first text delta (ms) of aioboto3 straight to the emulator."""
    started = time.perf_counter()
    first: float | None = None
    response = await client.converse_stream(
        modelId=HAIKU,
        system=[{"text": conversation.system}],
        messages=[{"role": r, "content": [{"text": t}]} for r, t in conversation.messages],
        inferenceConfig={"maxTokens": 512},
    )
    async for event in response["stream"]:
        if first is None and "contentBlockDelta" in event:
            first = time.perf_counter()
    return ((first or time.perf_counter()) - started) * 1000


def emulator_timeline(emulator: EmulatorProcess) -> tuple[float, float]:
    """(request received, first text event written) of the emulator's latest stream."""
    latest = emulator.stats()["recent_streams"][-1]
    return float(latest["received"]), float(latest["first_text"])


async def ttft_and_connections(emulator: EmulatorProcess, logs: Path, requests: int) -> dict[str, Any]:
    prompt = sample_prompt(catalog_products(5))
    conversation = render(prompt, 600)
    service = Service(emulator.url, logs / "inference.log", prewarm=True)
    session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    settings = InferenceSettings(bedrock_endpoint_url=emulator.url)
    backend = TimedBackend(BedrockBackend(settings))
    await backend.start()
    try:
        async with (
            grpc.aio.insecure_channel(service.address) as channel,
            session.client(
                "bedrock-runtime",
                endpoint_url=emulator.url,
                config=AioConfig(max_pool_connections=10, tcp_keepalive=True),
            ) as client,
        ):
            stub: inference_pb2_grpc.InferenceServiceAsyncStub = inference_pb2_grpc.InferenceServiceStub(channel)
            servicer = InferenceServicer(backend, settings, local_output_check)
            for _ in range(30):  # warm every path
                await generate(stub, prompt)
                await direct(client, conversation)
                await in_process(servicer, backend, prompt)
            via_service: list[float] = []
            straight: list[float] = []
            servicer_only: list[float] = []
            own: list[float] = []
            # Against the emulator's own clock (perf_counter is system-wide monotonic):
            # first text event written → first token at the client (the return path), and
            # the client's TTFT minus the emulator's time from request to first event.
            return_path: list[float] = []
            beyond_emulator: list[float] = []
            direct_beyond_emulator: list[float] = []
            for _ in range(300):  # interleaved
                sent = time.perf_counter()
                via_service.append(await generate(stub, prompt))
                received, first_text = emulator_timeline(emulator)
                return_path.append((sent + via_service[-1] / 1000 - first_text) * 1000)
                beyond_emulator.append(via_service[-1] - (first_text - received) * 1000)
                straight.append(await direct(client, conversation))
                received, first_text = emulator_timeline(emulator)
                direct_beyond_emulator.append(straight[-1] - (first_text - received) * 1000)
                ttft, share = await in_process(servicer, backend, prompt)
                servicer_only.append(ttft)
                own.append(share)
            emulator.reset()
            started = time.perf_counter()
            sequential = [await generate(stub, prompt) for _ in range(requests)]
            wall = time.perf_counter() - started
            counted = emulator.stats()
    finally:
        service.stop()
        await backend.close()
    return {
        "ttft_ms": {
            "via_service": {"p50": pct(via_service, 50), "p95": pct(via_service, 95)},
            "direct_aioboto3": {"p50": pct(straight, 50), "p95": pct(straight, 95)},
            "servicer_in_process": {"p50": pct(servicer_only, 50), "p95": pct(servicer_only, 95)},
            "overhead": {
                "p50": round(pct(via_service, 50) - pct(straight, 50), 3),
                "p95": round(pct(via_service, 95) - pct(straight, 95), 3),
            },
            "emulator_first_event_to_client_token": {"p50": pct(return_path, 50), "p95": pct(return_path, 95)},
            "client_ttft_minus_emulator_ttft": {"p50": pct(beyond_emulator, 50), "p95": pct(beyond_emulator, 95)},
            "direct_ttft_minus_emulator_ttft": {
                "p50": pct(direct_beyond_emulator, 50),
                "p95": pct(direct_beyond_emulator, 95),
            },
            "servicer_own_work": {"p50": pct(own, 50), "p95": pct(own, 95)},
            "n": len(via_service),
        },
        "sequential": {
            "requests": requests,
            "connections": counted["connections"],
            "emulator_requests": counted["requests"],
            "pool_size": settings.max_pool_connections,
            "ttft_p50": pct(sequential, 50),
            "ttft_p95": pct(sequential, 95),
            "throughput_rps": round(requests / wall, 1),
        },
    }


async def first_vs_steady(emulator: EmulatorProcess, logs: Path, restarts: int) -> dict[str, Any]:
    prompt = sample_prompt(catalog_products(5))
    out: dict[str, dict[str, list[float]]] = {"on": {"first": [], "steady": []}, "off": {"first": [], "steady": []}}
    for _ in range(restarts):
        for mode in ("on", "off"):  # interleaved restarts
            service = Service(emulator.url, logs / f"inference-{mode}.log", prewarm=mode == "on")
            try:
                async with grpc.aio.insecure_channel(service.address) as channel:
                    stub: inference_pb2_grpc.InferenceServiceAsyncStub = inference_pb2_grpc.InferenceServiceStub(
                        channel
                    )
                    await channel.channel_ready()
                    out[mode]["first"].append(await generate(stub, prompt))
                    out[mode]["steady"].extend([await generate(stub, prompt) for _ in range(40)])
            finally:
                service.stop()
    result: dict[str, Any] = {}
    for mode, v in out.items():
        steady_p95 = pct(v["steady"], 95)
        result[f"prewarm_{mode}"] = {
            "first_p50": pct(v["first"], 50),
            "first_max": round(max(v["first"]), 3),
            "steady_p50": pct(v["steady"], 50),
            "steady_p95": steady_p95,
            "first_p50_over_steady_p95": round(pct(v["first"], 50) / steady_p95, 2),
            "first_max_over_steady_p95": round(max(v["first"]) / steady_p95, 2),
            "restarts": len(v["first"]),
        }
    return result


def prompt_sizes() -> dict[str, Any]:
    products = catalog_products(5)
    prompt = sample_prompt(products, history_turns=10)
    minimal = render(prompt, 600)
    full_text = "\n".join(
        [
            minimal.system,
            *(f"{t.role}: {t.text}" for t in prompt.history),
            *(orjson.dumps(p).decode() for p in products),
            prompt.question,
        ]
    )
    minimal_text = minimal.system + "\n" + "\n".join(t for _, t in minimal.messages)
    full_bytes, min_bytes = len(full_text.encode()), minimal.size_bytes
    return {
        "full_documents": {"bytes": full_bytes, "tokens_est": estimate_tokens(full_text)},
        "minimised": {"bytes": min_bytes, "tokens_est": estimate_tokens(minimal_text)},
        "bytes_ratio": round(full_bytes / min_bytes, 2),
        "products_only": {
            "full_bytes": sum(len(orjson.dumps(p)) for p in products),
            "minimised_bytes": sum(len(line) for line in minimal.messages[-1][1].split("\n") if line.startswith("{")),
        },
    }


def guardrail_timing() -> dict[str, Any]:
    base = (
        "Here are some picks that match what you asked for. 1. Berserk by Kentaro Miura — fantasy, horror; "
        "41 volumes; ¥748; in stock. A mercenary's revenge in a dark medieval world. "
    )
    answer = (base * 10)[:1000]
    for _ in range(200):
        check_output(answer)
    timings = {"output_1000_chars": [], "input_question": []}  # type: dict[str, list[float]]
    for _ in range(2000):
        t = time.perf_counter()
        check_output(answer)
        timings["output_1000_chars"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        check_input("Something like Monster but less dark, and cheaper than ¥1,000 — mail me at a@b.jp")
        timings["input_question"].append((time.perf_counter() - t) * 1000)
    return {
        k: {"p50": round(float(np.percentile(v, 50)), 4), "p95": round(float(np.percentile(v, 95)), 4)}
        for k, v in timings.items()
    }


def main() -> None:
    args = whole_number_options(requests=1000, restarts=5)
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        # 1 ms before every token, the first included. With none, the emulator writes the
        # response head, the first event and the rest of the answer in one burst, so the first
        # event waits in the reader behind the service's own handling of the head (+0.3 ms p50)
        # and behind the rest (p95 +2 ms even for aioboto3 alone); a real model's first token
        # comes hundreds of ms after the head, to a reader that is idle. The client side runs
        # on uvloop, as the orchestrator (the service's real client) does.
        emulator = EmulatorProcess(logs / "emulator.log", MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS="1")
        try:
            main_run = uvloop.run(ttft_and_connections(emulator, logs, args.requests))
            warm = uvloop.run(first_vs_steady(emulator, logs, args.restarts))
        finally:
            emulator.stop()
    sizes = prompt_sizes()
    guard = guardrail_timing()
    t, seq = main_run["ttft_ms"], main_run["sequential"]
    print("\n| metric | measured | goal |\n|---|---|---|")
    print(f"| TTFT via the service, p50 / p95 (ms) | {t['via_service']['p50']:.2f} / {t['via_service']['p95']:.2f} | |")
    print(
        f"| TTFT aioboto3 straight to the emulator, p50 / p95 (ms) | "
        f"{t['direct_aioboto3']['p50']:.2f} / {t['direct_aioboto3']['p95']:.2f} | |"
    )
    print(
        f"| TTFT of the servicer in-process (no gRPC hop), p50 / p95 (ms) | "
        f"{t['servicer_in_process']['p50']:.2f} / {t['servicer_in_process']['p95']:.2f} | |"
    )
    print(
        f"| TTFT the servicer adds (its own work, timestamped), p50 / p95 (ms) | "
        f"{t['servicer_own_work']['p50']:.3f} / {t['servicer_own_work']['p95']:.3f} | p95 <= 1 ms |"
    )
    r, b, d = (
        t["emulator_first_event_to_client_token"],
        t["client_ttft_minus_emulator_ttft"],
        t["direct_ttft_minus_emulator_ttft"],
    )
    print(
        f"| emulator's first text event → first token at the service's client, p50 / p95 (ms) | "
        f"{r['p50']:.2f} / {r['p95']:.2f} | p95 <= 1 ms |"
    )
    print(
        f"| client TTFT minus the emulator's own TTFT, via the service / aioboto3 direct, p50 / p95 (ms) | "
        f"{b['p50']:.2f} / {b['p95']:.2f} vs {d['p50']:.2f} / {d['p95']:.2f} | |"
    )
    print(
        f"| overhead incl. the gRPC hop and a second process, p50 / p95 (ms) | {t['overhead']['p50']:.2f} / "
        f"{t['overhead']['p95']:.2f} | (report) |"
    )
    print(
        f"| connections for {seq['requests']} sequential requests | {seq['connections']} | <= pool ({seq['pool_size']}) |"
    )
    for mode in ("on", "off"):
        w = warm[f"prewarm_{mode}"]
        print(
            f"| pre-warm {mode}: first request p50 (max) vs steady p95 (ms) | {w['first_p50']:.2f} "
            f"({w['first_max']:.2f}) vs {w['steady_p95']:.2f} = {w['first_p50_over_steady_p95']}x "
            f"({w['first_max_over_steady_p95']}x) | {'<= 1.5x' if mode == 'on' else 'report'} |"
        )
    print(
        f"| prompt bytes, full documents vs minimised | {sizes['full_documents']['bytes']} vs "
        f"{sizes['minimised']['bytes']} = {sizes['bytes_ratio']}x (tokens est. "
        f"{sizes['full_documents']['tokens_est']} vs {sizes['minimised']['tokens_est']}) | report |"
    )
    g = guard["output_1000_chars"]
    print(
        f"| local output guardrail, 1,000-char answer, p50 / p95 (ms) | {g['p50']:.4f} / {g['p95']:.4f} | p95 <= 1 ms |"
    )
    gi = guard["input_question"]
    print(f"| local input guardrail, one question, p50 / p95 (ms) | {gi['p50']:.4f} / {gi['p95']:.4f} | |")
    report = {
        **stamp("inference"),
        "settings": {
            "requests": args.requests,
            "restarts": args.restarts,
            "emulator_latency": "zero",
            "token_delay_ms": 1,
            "client_loop": "uvloop",
        },
        "ttft_and_connections": main_run,
        "prewarm": warm,
        "prompt_sizes": sizes,
        "guardrail_ms": guard,
    }
    save_result(report)


if __name__ == "__main__":
    main()
