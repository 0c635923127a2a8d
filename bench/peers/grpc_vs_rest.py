"""gRPC vs REST/JSON: the same Classify and Search payloads over both transports, same handlers.

A child process (``bench.peers.twin``) serves the real intent and retrieval servicers over
``grpc.aio`` *and* over an aiohttp HTTP/JSON twin that calls the very same servicer
objects; this process is the client (one gRPC channel with the production options; one
aiohttp session with keep-alive). Measured, every repetition interleaving gRPC then REST:

- serialisation: encode + decode round trip of each message with protobuf, orjson and the
  standard ``json`` module (and the twin's full proto ↔ JSON mapping), in microseconds;
- bytes: each message's body in protobuf and JSON, and the bytes per call actually carried
  on the TCP stream (a counting proxy in between; HTTP/2 or HTTP/1.1 framing and headers
  included, TCP/IP headers not);
- round trip p50 / p95 and throughput at 1, 16 and 64 concurrent callers.

Search sends what the orchestrator sends (the text, k = 10, the card fields, a 384-d query
embedding) and gets 10 products plus the embedding back; repeated queries are answered
from retrieval's query cache on both transports alike, so the handler's cost is small and
equal and the transport dominates.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from google.protobuf import json_format
from google.protobuf.message import Message

from bench.peers import stats
from bench.peers.report import REPO, save_figure, table
from bench.peers.twin import dumps, from_plain, to_plain
from mangaassist.common.grpc_client import open_channel
from mangaassist.devtools.procs import stop_process
from mangaassist.orchestrator.stages.catalog import CARD_FIELDS  # what the orchestrator asks retrieval for
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

INTENT = "mangaassist.intent.v1.IntentService"
RETRIEVAL = "mangaassist.retrieval.v1.RetrievalService"
CONCURRENCY = (1, 16, 64)
SEED_CLAIMS = {"serialisation": 7.0, "payload": 3.5, "latency": 4.0}
CLASSIFY_TEXTS = [
    "おすすめのダークファンタジーは？",
    "Recommend a sports manga for a 12 year old",
    "送料はいくらですか",
    "Where is my order 249-1234567-7654321?",
    "2000円以下で在庫のある恋愛マンガ",
    "Is Frieren finished? How many volumes are out?",
    "返品の方法を教えてください",
    "Do you have Vinland Saga in English?",
]
SEARCH_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("おすすめのダークファンタジーは？", {}),
    ("sports manga for a 12 year old", {}),
    ("恋愛マンガ", {"max_price_jpy": 2000, "in_stock": True, "genres": ["romance"]}),
    ("Vinland Saga", {"language": "en"}),
    ("horror manga in stock", {"in_stock": True, "genres": ["horror"]}),
    ("ワンピース 1巻", {}),
]


def sizes(quick: bool) -> dict[str, int]:
    """Calls per (transport, method, concurrency) and serialisation loop length."""
    return {
        "calls": 128 if quick else 600,
        "serialise_loops": 200 if quick else 2000,
        "wire_calls": 20 if quick else 100,
    }


class Twin:
    """The twin server process: started on ephemeral ports, stopped with SIGTERM."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env.setdefault("MANGAASSIST_RETRIEVAL_INDEX_DIR", str(REPO / ".cache" / "index"))
        env["OTEL_TRACES_EXPORTER"] = "none"
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the twin; closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.peers.twin"],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "READY":
            self.stop()
            self._log.seek(0)
            tail = self._log.read().decode(errors="replace").splitlines()[-10:]
            raise RuntimeError(f"twin server did not start (exit {self.proc.returncode}):\n" + "\n".join(tail))
        self.grpc_port, self.http_port = int(line[1]), int(line[2])

    def stop(self) -> None:
        stop_process(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


class CountingProxy:
    """A TCP relay that counts the bytes each way: what a transport really puts on the wire."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = 0
        self.down = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if upstream:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                return
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, target_writer, True), pipe(target_reader, writer, False))

    @property
    def total(self) -> int:
        return self.up + self.down


class Clients:
    """The two client stacks against one twin, and the payloads they send."""

    def __init__(self, grpc_port: int, http_port: int) -> None:
        self.channel = open_channel(f"127.0.0.1:{grpc_port}")
        self.intent = intent_pb2_grpc.IntentServiceStub(self.channel)
        self.retrieval = retrieval_pb2_grpc.RetrievalServiceStub(self.channel)
        # Keep-alive pool big enough for the highest concurrency: HTTP/1.1 needs one connection per call in flight.
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=2 * max(CONCURRENCY), keepalive_timeout=60)
        )
        self.base = f"http://127.0.0.1:{http_port}/v1"
        self.classify = [intent_pb2.ClassifyRequest(text=t) for t in CLASSIFY_TEXTS]
        self.search: list[retrieval_pb2.SearchRequest] = []

    async def prepare(self) -> None:
        """Search requests carry the query embedding, as the orchestrator's do."""
        for text, filters in SEARCH_QUERIES:
            embedded = await self.retrieval.Embed(retrieval_pb2.EmbedRequest(text=text), timeout=30)
            self.search.append(
                retrieval_pb2.SearchRequest(
                    query=text,
                    k=10,
                    fields=CARD_FIELDS,
                    filters=common_pb2.SearchFilters(**filters),
                    query_embedding=embedded.embedding,
                )
            )
        self.classify_json = [to_plain(m) for m in self.classify]
        self.search_json = [to_plain(m) for m in self.search]

    async def close(self) -> None:
        await self.session.close()
        await self.channel.close()

    async def grpc_call(self, method: str, i: int) -> None:
        if method == "Classify":
            await self.intent.Classify(self.classify[i % len(self.classify)], timeout=10)
        else:
            await self.retrieval.Search(self.search[i % len(self.search)], timeout=10)

    async def rest_call(
        self, method: str, i: int, base: str | None = None, session: aiohttp.ClientSession | None = None
    ) -> None:
        payloads = self.classify_json if method == "Classify" else self.search_json
        service = INTENT if method == "Classify" else RETRIEVAL
        async with (session or self.session).post(
            f"{base or self.base}/{service}/{method}",
            data=dumps(payloads[i % len(payloads)]),
            headers={"Content-Type": "application/json"},
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"REST {method} answered {resp.status}: {body[:200]!r}")
            orjson.loads(body)


def as_dict(message: Message) -> dict[str, Any]:
    """``google.protobuf.json_format``'s mapping (the slow, pure-Python reference)."""
    out: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return out


async def drive(call: Callable[[int], Awaitable[None]], calls: int, concurrency: int) -> tuple[list[float], float]:
    """``concurrency`` callers, each calling back to back; per-call ms and calls per second."""
    per = max(4, calls // concurrency)
    latencies: list[float] = []

    async def caller(w: int) -> None:
        for j in range(per):
            started = time.perf_counter()
            await call(w * per + j)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(caller(w) for w in range(concurrency)))
    return latencies, len(latencies) / (time.perf_counter() - started)


def per_op_us(fn: Callable[[], object], loops: int) -> float:
    started = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - started) / loops * 1e6


def codecs(message: Message) -> dict[str, Callable[[], object]]:
    """Encode + decode round trips of one message in each format."""
    kind = type(message)
    plain, lists = to_plain(message), to_plain(message, arrays=False)
    return {
        "protobuf": lambda: kind.FromString(message.SerializeToString()),
        "orjson": lambda: orjson.loads(dumps(plain)),
        "json": lambda: json.loads(json.dumps(lists, ensure_ascii=False)),
        # What the twin does per call: message -> plain data -> JSON bytes -> plain data -> message.
        "proto_json_mapping": lambda: from_plain(kind, orjson.loads(dumps(to_plain(message)))),
        "json_format": lambda: json_format.ParseDict(orjson.loads(orjson.dumps(as_dict(message))), kind()),
    }


async def wire_bytes(clients: Clients, twin: Twin, method: str, calls: int) -> dict[str, float]:
    """Bytes per call on the TCP stream (both directions), after a warm-up on a fresh connection."""
    out: dict[str, float] = {}
    grpc_proxy, http_proxy = CountingProxy(twin.grpc_port), CountingProxy(twin.http_port)
    grpc_port, http_port = await grpc_proxy.start(), await http_proxy.start()
    channel = open_channel(f"127.0.0.1:{grpc_port}")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    try:
        intent, retrieval = intent_pb2_grpc.IntentServiceStub(channel), retrieval_pb2_grpc.RetrievalServiceStub(channel)

        async def grpc_call(i: int) -> None:
            if method == "Classify":
                await intent.Classify(clients.classify[i % len(clients.classify)], timeout=10)
            else:
                await retrieval.Search(clients.search[i % len(clients.search)], timeout=10)

        async def rest_call(i: int) -> None:
            await clients.rest_call(method, i, f"http://127.0.0.1:{http_port}/v1", session)

        for name, call, proxy in (("grpc", grpc_call, grpc_proxy), ("rest", rest_call, http_proxy)):
            for i in range(5):
                await call(i)
            before = proxy.total
            for i in range(calls):
                await call(i)
            out[name] = (proxy.total - before) / calls
    finally:
        await session.close()
        await channel.close()
        await grpc_proxy.close()
        await http_proxy.close()
    return out


async def measure(twin: Twin, quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    size = sizes(quick)
    clients = Clients(twin.grpc_port, twin.http_port)
    try:
        await clients.prepare()
        methods = ("Classify", "Search")
        for method in methods:  # warm-up: connections, caches, lazy paths on both sides
            # at the highest concurrency, so REST's keep-alive pool holds all its connections
            await drive(functools.partial(clients.grpc_call, method), 4 * max(CONCURRENCY), max(CONCURRENCY))
            await drive(functools.partial(clients.rest_call, method), 4 * max(CONCURRENCY), max(CONCURRENCY))
        progress("warmed up")

        replies = {
            "ClassifyRequest": clients.classify[0],
            "ClassifyResponse": await clients.intent.Classify(clients.classify[0], timeout=10),
            "SearchRequest": clients.search[0],
            "SearchResponse": await clients.retrieval.Search(clients.search[0], timeout=10),
        }
        body_bytes = {
            name: {
                "protobuf": len(m.SerializeToString()),
                "json": len(dumps(to_plain(m))),
                "json_format": len(orjson.dumps(as_dict(m))),
            }
            for name, m in replies.items()
        }
        ser: dict[str, dict[str, list[float]]] = {name: {} for name in replies}
        latency: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {
            m: {str(c): {t: {"p50": [], "p95": [], "qps": []} for t in ("grpc", "rest")} for c in CONCURRENCY}
            for m in methods
        }
        wire: dict[str, dict[str, list[float]]] = {m: {"grpc": [], "rest": []} for m in methods}
        for rep in range(reps):
            for name, message in replies.items():
                for fmt, fn in codecs(message).items():
                    ser[name].setdefault(fmt, []).append(per_op_us(fn, size["serialise_loops"]))
            progress(f"rep {rep + 1}/{reps}: serialisation")
            for method in methods:
                for conc in CONCURRENCY:
                    for transport in ("grpc", "rest"):  # A then B, every repetition
                        call = clients.grpc_call if transport == "grpc" else clients.rest_call
                        lat, qps = await drive(functools.partial(call, method), size["calls"], conc)
                        cell = latency[method][str(conc)][transport]
                        cell["p50"].append(stats.percentile(lat, 50))
                        cell["p95"].append(stats.percentile(lat, 95))
                        cell["qps"].append(qps)
                    progress(f"rep {rep + 1}/{reps}: {method} x{conc}")
                measured = await wire_bytes(clients, twin, method, size["wire_calls"])
                for transport, value in measured.items():
                    wire[method][transport].append(value)
    finally:
        await clients.close()

    return {
        "settings": {
            **size,
            "reps": reps,
            "concurrency": list(CONCURRENCY),
            "search_k": 10,
            "embedding_dim": len(clients.search[0].query_embedding),
        },
        "seed_claims": SEED_CLAIMS,
        "serialisation_us": {name: {fmt: stats.summary(v) for fmt, v in by.items()} for name, by in ser.items()},
        "serialisation_ratio": {
            name: {fmt: stats.ratio_summary(by["protobuf"], v) for fmt, v in by.items() if fmt != "protobuf"}
            for name, by in ser.items()
        },
        "body_bytes": body_bytes,
        "wire_bytes_per_call": {
            m: {
                "grpc": stats.summary(w["grpc"]),
                "rest": stats.summary(w["rest"]),
                "ratio": stats.ratio_summary(w["grpc"], w["rest"]),
            }
            for m, w in wire.items()
        },
        "latency_ms": {
            m: {
                c: {
                    **{t: {k: stats.summary(v) for k, v in cell[t].items()} for t in ("grpc", "rest")},
                    "ratio_p50": stats.ratio_summary(cell["grpc"]["p50"], cell["rest"]["p50"]),
                    "ratio_p95": stats.ratio_summary(cell["grpc"]["p95"], cell["rest"]["p95"]),
                }
                for c, cell in by.items()
            }
            for m, by in latency.items()
        },
    }


def run(quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
    progress("starting the twin server")
    twin = Twin()
    try:
        return uvloop.run(measure(twin, quick, reps, progress))
    finally:
        twin.stop()


def _ratio_word(r: float | None) -> str:
    if r is None or r != r:  # no samples
        return "n/a"
    return f"gRPC {r:.2f}× better" if r >= 1 else f"REST/JSON {1 / r:.2f}× better"


def markdown(result: dict[str, Any], plots_dir: Path) -> str:
    s = result["settings"]
    ser, ratio = result["serialisation_us"], result["serialisation_ratio"]
    ser_rows = [
        [
            name,
            *stats.cells(by, "protobuf", "orjson", "json", "proto_json_mapping", "json_format"),
            *stats.cells(ratio[name], "json", "orjson", "proto_json_mapping"),
        ]
        for name, by in ser.items()
    ]
    body = result["body_bytes"]
    size_rows = [
        [name, b["protobuf"], b["json"], f"{b['json'] / b['protobuf']:.2f}", b["json_format"]]
        for name, b in body.items()
    ]
    wire = result["wire_bytes_per_call"]
    wire_rows = [[m, stats.fmt(w["grpc"], 0), stats.fmt(w["rest"], 0), stats.fmt(w["ratio"])] for m, w in wire.items()]
    lat = result["latency_ms"]
    lat_rows = [
        [
            m,
            c,
            *stats.side_by_side(cell, "grpc", "rest", "ratio"),
            stats.fmt(cell["grpc"]["qps"], 0),
            stats.fmt(cell["rest"]["qps"], 0),
        ]
        for m, by in lat.items()
        for c, cell in by.items()
    ]

    # The design's three gRPC claims (decision 0008) against what this run measured.
    resp = "SearchResponse"
    claim_ser = ratio[resp]["json"]["median"]
    claim_ser_or = ratio[resp]["orjson"]["median"]
    claim_ser_twin = ratio[resp]["proto_json_mapping"]["median"]
    claim_bytes = body[resp]["json"] / body[resp]["protobuf"]
    claim_wire = wire["Search"]["ratio"]["median"]
    claim_lat = {m: lat[m]["1"]["ratio_p50"]["median"] for m in lat}
    seed = result["seed_claims"]
    claims = table(
        ["seed claim", "seed", "measured here", "verdict"],
        [
            [
                "serialisation (JSON time / protobuf time)",
                f"{seed['serialisation']}×",
                f"{claim_ser:.2f}× (`json`), {claim_ser_or:.2f}× (orjson), {claim_ser_twin:.2f}× (the twin's whole "
                f"mapping), {resp}",
                _ratio_word(claim_ser_or),
            ],
            [
                "payload size (JSON bytes / protobuf bytes)",
                f"{seed['payload']}×",
                f"{claim_bytes:.2f}× body, {claim_wire:.2f}× on the wire (Search, per call)",
                _ratio_word(claim_wire),
            ],
            [
                "latency (REST p50 / gRPC p50, 1 caller)",
                f"{seed['latency']}×",
                ", ".join(f"{v:.2f}× {m}" for m, v in claim_lat.items()),
                _ratio_word(min(claim_lat.values())),
            ],
        ],
    )

    mapping = ser["SearchRequest"]["json_format"]["median"] + ser[resp]["json_format"]["median"]
    link = _plot(lat, plots_dir)
    return "\n".join(
        [
            "## gRPC vs REST/JSON (same handlers, same payloads)",
            "",
            "The real intent and retrieval servicers in one process behind `grpc.aio` (production "
            "interceptor and options) and behind an aiohttp HTTP/JSON twin calling the same servicer "
            f"objects; the client keeps one gRPC channel and one keep-alive aiohttp session. Search sends "
            f"k = {s['search_k']}, the card fields and a {s['embedding_dim']}-d query embedding (as the "
            "orchestrator does) and gets the products plus the embedding back. "
            f"{s['calls']} calls per cell, {s['reps']} repetitions, gRPC then REST in each. Ratios: REST over "
            "gRPC, pair by pair (> 1 means gRPC is better). The twin maps messages ↔ JSON the way a "
            "numpy-backed JSON service would (fields to plain data, the embedding as a float32 array that "
            "orjson writes with the shortest digits); `google.protobuf.json_format`, the generic mapping, costs "
            f"{mapping:.0f} µs per Search call (request + reply) here and is shown for reference only.",
            "",
            claims,
            "",
            "**Serialisation** — encode + decode round trip, µs per message:",
            "",
            table(
                [
                    "message",
                    "protobuf",
                    "orjson",
                    "json (stdlib)",
                    "message ↔ JSON (the twin)",
                    "message ↔ JSON (json_format)",
                    "json / protobuf",
                    "orjson / protobuf",
                    "twin / protobuf",
                ],
                ser_rows,
            ),
            "",
            "**Bytes** — message bodies, and bytes per call on the TCP stream (both directions, framing and "
            "headers included):",
            "",
            table(["message", "protobuf B", "JSON B (the twin)", "JSON / protobuf", "JSON B (json_format)"], size_rows),
            "",
            table(["call", "gRPC B/call", "REST B/call", "REST / gRPC"], wire_rows),
            "",
            "**Round trip** (ms) and throughput (calls/s) by concurrent callers:",
            "",
            table(
                [
                    "method",
                    "callers",
                    "gRPC p50",
                    "REST p50",
                    "REST/gRPC p50",
                    "gRPC p95",
                    "REST p95",
                    "REST/gRPC p95",
                    "gRPC calls/s",
                    "REST calls/s",
                ],
                lat_rows,
            ),
            "",
            f"![gRPC vs REST round trip]({link})",
            "",
        ]
    )


def _plot(lat: dict[str, Any], plots_dir: Path) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lat), figsize=(10, 3.6))
    for ax, (method, by) in zip(axes, lat.items(), strict=True):
        conc = list(by)
        xs = range(len(conc))
        for offset, transport, colour in ((-0.2, "grpc", "#1f77b4"), (0.2, "rest", "#ff7f0e")):
            for q, hatch in (("p50", None), ("p95", "//")):
                med = [by[c][transport][q]["median"] for c in conc]
                lo = [m - by[c][transport][q]["min"] for m, c in zip(med, conc, strict=True)]
                hi = [by[c][transport][q]["max"] - m for m, c in zip(med, conc, strict=True)]
                ax.bar(
                    [x + offset + (0.1 if q == "p95" else -0.1) for x in xs],
                    med,
                    width=0.18,
                    yerr=[lo, hi],
                    color=colour,
                    alpha=1.0 if q == "p50" else 0.5,
                    hatch=hatch,
                    capsize=2,
                    label=f"{'gRPC' if transport == 'grpc' else 'REST/JSON'} {q}",
                )
        ax.set_xticks(list(xs), [f"{c} callers" for c in conc])
        ax.set_ylabel("round trip, ms (median, min–max)")
        ax.set_title(method)
    axes[0].legend(fontsize=8)
    return save_figure(fig, plots_dir, "grpc_vs_rest")
