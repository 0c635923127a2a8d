"""Mesh vs monolith: the same orchestrator pipeline with and without gRPC hops.

Both sides run the orchestrator's real ``Pipeline`` in this process, on the same question
mix, interleaved (mesh, then monolith, every repetition):

- **mesh**: its downstreams are gRPC stubs over the production channels to the real
  intent, retrieval and inference service processes;
- **monolith**: its downstreams are in-process adapters (``bench.peers.inproc``) that call
  the same servicer classes, built from the same settings, directly — no serialisation,
  no sockets, no server interceptor.

The Bedrock emulator answers at once (latency profile ``zero``), the semantic cache is off
and sessions are in memory, so what remains is our own code plus, on the mesh side, the
hops. Per hop: each RPC called alone (Classify, Embed, Search, Generate to first token and
to the end). End to end: ``Pipeline.handle`` from the frame to ``done`` and to the first
token, with 1 and 16 concurrent questions. The mesh cost is mesh minus monolith, pair by pair.
Note the monolith runs everything on one core; the mesh spreads the services' CPU over
processes — at concurrency that can favour the mesh, and the table shows whichever wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import uvloop

from bench.peers import stats
from bench.peers.inproc import (
    InProcessInference,
    InProcessIntent,
    InProcessRetrieval,
    build_inference,
    build_intent,
    build_retrieval,
)
from bench.peers.report import REPO, save_figure, table
from mangaassist.bedrock_emulator.app import EmulatorSettings
from mangaassist.common.grpc_client import open_channel
from mangaassist.common.telemetry import setup_tracing
from mangaassist.devtools.cluster import LOCAL_AWS_ENV, Cluster
from mangaassist.inference.config import InferenceSettings
from mangaassist.orchestrator.auth import Identity
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.orchestrator.guards import Guards
from mangaassist.orchestrator.pipeline import Downstreams, Pipeline
from mangaassist.orchestrator.postprocess import PostProcessor
from mangaassist.orchestrator.sessions import InMemorySessionStore
from mangaassist.orchestrator.stages.catalog import CARD_FIELDS
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.inference.v1 import inference_pb2, inference_pb2_grpc
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.service import RetrievalServicer

SIDES = ("mesh", "monolith")
HOPS = ("Classify", "Embed", "Search", "Generate (first token)", "Generate (whole stream)")
QUESTIONS = [
    "おすすめのダークファンタジーは？",
    "Recommend a sports manga for a 12 year old",
    "ワンピースの1巻はありますか",
    "Do you have Vinland Saga in English?",
    "2000円以下で在庫のある恋愛マンガ",
    "Is Frieren finished? How many volumes are out?",
    "送料はいくらですか",
    "Can I pay with PayPay?",
    "Something like Monster but less dark",
    "鬼滅の刃とチェンソーマンならどっちがおすすめ？",
    "こんにちは",
    "horror manga in stock",
]
ENV = {
    "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
    "OTEL_TRACES_EXPORTER": "none",
    "OPENBLAS_NUM_THREADS": "1",
    **{f"MANGAASSIST_{svc}_LOG_LEVEL": "WARNING" for svc in ("INTENT", "RETRIEVAL", "INFERENCE", "BEDROCK_EMULATOR")},
}


def sizes(quick: bool) -> dict[str, int]:
    return {
        "hop_calls": 24 if quick else 200,
        "embed_calls": 8 if quick else 60,
        "questions": 16 if quick else 120,
        "concurrency": 16,
    }


@contextlib.contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for this suite only (later suites see the old values)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Side:
    name: str
    downstreams: Downstreams
    pipeline: Pipeline
    post: PostProcessor


def make_side(name: str, downstreams: Downstreams) -> Side:
    settings = OrchestratorSettings(session_backend="memory", cache_enabled=False)
    _, tracer = setup_tracing(f"bench-{name}", "bench")
    post = PostProcessor(settings.postprocess_max_pending)
    pipeline = Pipeline(
        settings,
        downstreams,
        InMemorySessionStore(settings.max_sessions, settings.session_ttl_s),
        None,
        tracer,
        post,
        Guards(settings.breakers, settings.bulkhead_wait_s),
    )
    return Side(name, downstreams, pipeline, post)


async def timed_calls(call: Callable[[int], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def generate(d: Downstreams, request: inference_pb2.GenerateRequest) -> tuple[float, float]:
    """(ms to the first token, ms to the ``done`` message) of one Generate stream."""
    started = time.perf_counter()
    first = None
    call = d.inference.Generate(request, timeout=30)
    async for message in call:
        if message.HasField("token") and first is None:
            first = time.perf_counter()
        if message.HasField("done"):
            break
    call.cancel()
    end = time.perf_counter()
    return ((first or end) - started) * 1000, (end - started) * 1000


async def hop_samples(
    d: Downstreams,
    size: dict[str, int],
    searches: list[retrieval_pb2.SearchRequest],
    prompts: list[inference_pb2.GenerateRequest],
) -> dict[str, list[float]]:
    out = {
        "Classify": await timed_calls(
            lambda i: d.intent.Classify(intent_pb2.ClassifyRequest(text=QUESTIONS[i % len(QUESTIONS)]), timeout=10),
            size["hop_calls"],
        ),
        # A different text each call: the embedding is computed, never cached.
        "Embed": await timed_calls(
            lambda i: d.retrieval.Embed(
                retrieval_pb2.EmbedRequest(text=f"{QUESTIONS[i % len(QUESTIONS)]} {time.perf_counter_ns()}"), timeout=10
            ),
            size["embed_calls"],
        ),
        "Search": await timed_calls(
            lambda i: d.retrieval.Search(searches[i % len(searches)], timeout=10), size["hop_calls"]
        ),
    }
    first, whole = [], []
    for i in range(size["hop_calls"]):
        f, w = await generate(d, prompts[i % len(prompts)])
        first.append(f)
        whole.append(w)
    out["Generate (first token)"], out["Generate (whole stream)"] = first, whole
    return out


async def ask(side: Side, i: int) -> tuple[float, float, bool]:
    """One question through ``Pipeline.handle``: (ms to done, ms to first token, ok)."""
    started = time.perf_counter()
    first: float | None = None
    finished = asyncio.Event()
    ok = False

    async def emit(frame: dict[str, Any]) -> None:
        nonlocal first, ok
        if frame["type"] == "token" and first is None:
            first = time.perf_counter()
        elif frame["type"] in ("done", "error"):
            ok = frame["type"] == "done"
            finished.set()

    raw = {"type": "query", "request_id": f"q{i}", "text": QUESTIONS[i % len(QUESTIONS)]}
    await side.pipeline.handle(raw, started, emit, Identity())
    await finished.wait()
    end = time.perf_counter()
    return (end - started) * 1000, ((first or end) - started) * 1000, ok


async def e2e_samples(side: Side, n: int, concurrency: int) -> dict[str, Any]:
    e2e: list[float] = []
    ttft: list[float] = []
    errors = 0
    per = max(1, n // concurrency)

    async def user(u: int) -> None:
        nonlocal errors
        for j in range(per):
            total, first, ok = await ask(side, u * per + j)
            if ok:
                e2e.append(total)
                ttft.append(first)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "e2e_p50": stats.percentile(e2e, 50),
        "e2e_p95": stats.percentile(e2e, 95),
        "ttft_p50": stats.percentile(ttft, 50),
        "ttft_p95": stats.percentile(ttft, 95),
        "qps": (len(e2e) + errors) / wall,
        "errors": errors,
    }


async def measure(cluster: Cluster, quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    size = sizes(quick)
    channels = {svc: open_channel(cluster.address(svc)) for svc in ("intent", "retrieval", "inference")}
    mesh = make_side(
        "mesh",
        Downstreams(
            intent=intent_pb2_grpc.IntentServiceStub(channels["intent"]),
            retrieval=retrieval_pb2_grpc.RetrievalServiceStub(channels["retrieval"]),
            inference=inference_pb2_grpc.InferenceServiceStub(channels["inference"]),
        ),
    )
    progress("loading the in-process servicers")
    inference, backend = await build_inference(InferenceSettings(bedrock_endpoint_url=cluster.url("bedrock_emulator")))
    retrieval: RetrievalServicer | None = None
    try:
        retrieval = await build_retrieval()
        # The adapters implement the stub methods the pipeline calls (see bench.peers.inproc).
        monolith = make_side(
            "monolith",
            Downstreams(
                intent=cast("intent_pb2_grpc.IntentServiceAsyncStub", InProcessIntent(build_intent())),
                retrieval=cast("retrieval_pb2_grpc.RetrievalServiceAsyncStub", InProcessRetrieval(retrieval)),
                inference=cast("inference_pb2_grpc.InferenceServiceAsyncStub", InProcessInference(inference)),
            ),
        )
        sides = (mesh, monolith)
        embedded = await mesh.downstreams.retrieval.Embed(retrieval_pb2.EmbedRequest(text=QUESTIONS[0]), timeout=30)
        searches = [
            retrieval_pb2.SearchRequest(query=q, k=10, fields=CARD_FIELDS, query_embedding=embedded.embedding)
            for q in QUESTIONS[:6]
        ]
        found = await mesh.downstreams.retrieval.Search(searches[0], timeout=10)
        prompts = [
            inference_pb2.GenerateRequest(
                model="haiku",
                prompt=inference_pb2.PromptParts(
                    system="You are MangaAssist.",
                    question=q,
                    language="ja" if not q.isascii() else "en",
                    intent="product_recommendation",
                    products=[
                        common_pb2.Product(asin=h.product.asin, title=h.product.title, price_jpy=h.product.price_jpy)
                        for h in found.results[:5]
                    ],
                ),
            )
            for q in QUESTIONS[:6]
        ]
        for side in sides:  # warm-up: channels, caches, lazy imports on both sides
            await hop_samples(side.downstreams, {"hop_calls": 6, "embed_calls": 2}, searches, prompts)
            await e2e_samples(side, 2 * len(QUESTIONS), 4)
        progress("warmed up")

        hops: dict[str, dict[str, dict[str, list[float]]]] = {
            h: {s: {"p50": [], "p95": []} for s in SIDES} for h in HOPS
        }
        levels = (1, size["concurrency"])
        e2e: dict[str, dict[str, dict[str, list[float]]]] = {str(c): {s: {} for s in SIDES} for c in levels}
        for rep in range(reps):
            for side in sides:  # mesh then monolith, every repetition
                for hop, samples in (await hop_samples(side.downstreams, size, searches, prompts)).items():
                    hops[hop][side.name]["p50"].append(stats.percentile(samples, 50))
                    hops[hop][side.name]["p95"].append(stats.percentile(samples, 95))
            progress(f"rep {rep + 1}/{reps}: hops")
            for conc in levels:
                for side in sides:
                    got = await e2e_samples(side, size["questions"], conc)
                    for k, v in got.items():
                        e2e[str(conc)][side.name].setdefault(k, []).append(v)
                progress(f"rep {rep + 1}/{reps}: end to end x{conc}")
        for side in sides:
            await side.post.drain(5.0)
    finally:
        for channel in channels.values():
            await channel.close()
        await backend.close()
        if retrieval is not None:
            await retrieval.close()

    def diff(a: list[float], b: list[float]) -> stats.Summary:
        return stats.summary([x - y for x, y in zip(a, b, strict=True)])

    return {
        "settings": {
            **size,
            "reps": reps,
            "questions_mix": len(QUESTIONS),
            "emulator_latency_profile": "zero",
            "semantic_cache": False,
            "sessions": "memory",
            "seeds": {"emulator": EmulatorSettings().seed},
        },
        "hops_ms": {
            h: {
                **{s: {q: stats.summary(v) for q, v in by[s].items()} for s in SIDES},
                "cost_p50": diff(by["mesh"]["p50"], by["monolith"]["p50"]),
                "cost_p95": diff(by["mesh"]["p95"], by["monolith"]["p95"]),
                "ratio_p50": stats.ratio_summary(by["monolith"]["p50"], by["mesh"]["p50"]),
            }
            for h, by in hops.items()
        },
        "end_to_end": {
            c: {
                **{s: {k: stats.summary(v) for k, v in by[s].items()} for s in SIDES},
                "cost_e2e_p50": diff(by["mesh"]["e2e_p50"], by["monolith"]["e2e_p50"]),
                "cost_e2e_p95": diff(by["mesh"]["e2e_p95"], by["monolith"]["e2e_p95"]),
                "cost_ttft_p50": diff(by["mesh"]["ttft_p50"], by["monolith"]["ttft_p50"]),
                "ratio_e2e_p50": stats.ratio_summary(by["monolith"]["e2e_p50"], by["mesh"]["e2e_p50"]),
                "ratio_qps": stats.ratio_summary(by["monolith"]["qps"], by["mesh"]["qps"]),
            }
            for c, by in e2e.items()
        },
    }


def run(quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    env = {**ENV, **LOCAL_AWS_ENV}
    env.setdefault(
        "MANGAASSIST_RETRIEVAL_INDEX_DIR",
        os.environ.get("MANGAASSIST_RETRIEVAL_INDEX_DIR", str(REPO / ".cache" / "index")),
    )
    progress("starting the services")
    with patched_env(env), tempfile.TemporaryDirectory() as logs:
        cluster = Cluster(env=env, log_dir=Path(logs))
        try:
            cluster.spawn("bedrock_emulator")
            cluster.wait_serving("bedrock_emulator", 120)
            for svc in ("intent", "retrieval", "inference"):
                cluster.spawn(svc)
            for svc in ("intent", "retrieval", "inference"):
                cluster.wait_serving(svc, 300)
            return uvloop.run(measure(cluster, quick, reps, progress))
        finally:
            cluster.stop()


def markdown(result: dict[str, Any], plots_dir: Path) -> str:
    s = result["settings"]
    hop_rows = [
        [
            h,
            *stats.side_by_side(by, "mesh", "monolith", "cost"),
            stats.fmt(by["ratio_p50"]),
        ]
        for h, by in result["hops_ms"].items()
    ]
    e2e_rows = []
    for conc, by in result["end_to_end"].items():
        for what, key in (("to `done`", "e2e"), ("to first token", "ttft")):
            e2e_rows.append(
                [
                    conc,
                    what,
                    stats.fmt(by["mesh"][f"{key}_p50"]),
                    stats.fmt(by["monolith"][f"{key}_p50"]),
                    stats.fmt(by["mesh"][f"{key}_p95"]),
                    stats.fmt(by["monolith"][f"{key}_p95"]),
                ]
            )
    cost_rows = [
        [
            conc,
            *stats.cells(by, "cost_e2e_p50", "cost_e2e_p95", "cost_ttft_p50", "ratio_e2e_p50"),
            stats.fmt(by["mesh"]["qps"], 0),
            stats.fmt(by["monolith"]["qps"], 0),
            stats.fmt(by["ratio_qps"]),
        ]
        for conc, by in result["end_to_end"].items()
    ]
    link = _plot(result, plots_dir)
    return "\n".join(
        [
            "## Mesh vs monolith (the price of the gRPC hops)",
            "",
            "The orchestrator's real `Pipeline` in one process, its downstreams either gRPC stubs to the "
            "real service processes (**mesh**) or adapters calling the same servicers in process "
            "(**monolith**, no serialisation, no sockets). Bedrock emulator at zero latency, semantic cache "
            f"off, sessions in memory; {s['questions']} questions per end-to-end cell from a "
            f"{s['questions_mix']}-question JP/EN mix, {s['hop_calls']} calls per hop ({s['embed_calls']} for "
            f"Embed), {s['reps']} repetitions, mesh then monolith in each. *Cost* = mesh − monolith and "
            "*ratio* = mesh / monolith, pair by pair.",
            "",
            "**Per hop** (ms, one caller):",
            "",
            table(
                [
                    "hop",
                    "mesh p50",
                    "monolith p50",
                    "cost p50",
                    "mesh p95",
                    "monolith p95",
                    "cost p95",
                    "mesh / monolith p50",
                ],
                hop_rows,
            ),
            "",
            "**End to end** through `Pipeline.handle` (ms):",
            "",
            table(["questions at once", "", "mesh p50", "monolith p50", "mesh p95", "monolith p95"], e2e_rows),
            "",
            table(
                [
                    "questions at once",
                    "mesh cost p50",
                    "mesh cost p95",
                    "mesh cost to first token p50",
                    "mesh / monolith p50",
                    "mesh q/s",
                    "monolith q/s",
                    "mesh / monolith q/s",
                ],
                cost_rows,
            ),
            "",
            "A negative cost means the mesh was faster: its services compute on the other core while the "
            "orchestrator waits, which the single-process monolith cannot do.",
            "",
            f"![mesh vs monolith]({link})",
            "",
        ]
    )


def _plot(result: dict[str, Any], plots_dir: Path) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    hops = result["hops_ms"]
    names = list(hops)
    xs = range(len(names))
    for offset, side, colour in ((-0.2, "mesh", "#1f77b4"), (0.2, "monolith", "#2ca02c")):
        med = [hops[h][side]["p50"]["median"] for h in names]
        lo = [m - hops[h][side]["p50"]["min"] for m, h in zip(med, names, strict=True)]
        hi = [hops[h][side]["p50"]["max"] - m for m, h in zip(med, names, strict=True)]
        ax.bar([x + offset for x in xs], med, width=0.38, yerr=[lo, hi], capsize=2, color=colour, label=side)
    ax.set_xticks(list(xs), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.set_ylabel("p50 ms (median, min–max)")
    ax.set_title("Per hop: gRPC mesh vs in-process")
    ax.legend()
    return save_figure(fig, plots_dir, "mesh_vs_monolith")
