"""Fuzzing campaign against real servers: every gRPC method of intent, retrieval and inference,
and the orchestrator's WebSocket, on a fresh local cluster (ephemeral ports).

    python -m bench.fuzz [--grpc 10000] [--ws 10000] [--concurrency 16]

* **gRPC** — hypothesis generates ``--grpc`` request messages per method from the method's
  own descriptor (every field, recursively: strings of NUL, lone surrogates, RTL marks, 4-byte
  emoji, combining marks and oversized text; integers at and past their type's bounds; NaN,
  infinities and huge floats; unknown enum values; long repeated fields such as wrong-sized
  embeddings). Each is sent to the real server; the reply must be OK or one of the codes the
  services document (``CONTRACT_CODES``); server-streaming watches are opened and cancelled.
* **WebSocket** — ``--ws`` frames (the schema fuzzer's strategies plus raw text: deep
  nesting, oversized frames, binary frames, not-JSON) over 16 connections through the real
  orchestrator; every frame must get exactly one terminal frame, ``done`` or an ``error``
  with a contract code other than ``internal``. A canary connection asks an ordinary
  question throughout: no other session is disturbed.
* After each surface: every process of the cluster is still the one that started (no exit).

Writes ``bench/results/fuzz.json`` (counts by reply, undocumented replies with a sample,
process exits, the canary's answers). Slow (minutes): the unit lane runs the same
strategies with a few hundred examples (tests/test_fuzz_mesh.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect

from bench.common import cluster_env
from mangaassist.devtools.cluster import Cluster
from mangaassist.orchestrator.schema import ErrorCode
from mangaassist.proto.inference.v1 import inference_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "fuzz.json"

# What the services document (libs/common errors, the interceptors, the bulkheads); CANCELLED
# is ours (a watch we close). Anything else (INTERNAL, UNKNOWN, ...) is undocumented.
CONTRACT_CODES = {
    "OK",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "CANCELLED",
}
# `internal` is a contract code but never a right answer here.
WS_CONTRACT = {code.value for code in ErrorCode if code is not ErrorCode.INTERNAL}

SERVICES = {
    "intent": intent_pb2.DESCRIPTOR.services_by_name["IntentService"],
    "retrieval": retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"],
    "inference": inference_pb2.DESCRIPTOR.services_by_name["InferenceService"],
}

EDGE_CHARS = [
    "\x00",
    "\u202e",
    "\u200f",
    "\u061c",
    "😀",
    "𠮷",
    "👨‍👩‍👧",
    "e\u0301\u0302\u0303",
    "\ufeff",
    "\ud800",
    "\udfff",
    "⑳",
    "ﷺ",
    "\n",
    '"',
    "<script>",
    "</question>",
    "ア",
    "ｱ",
    "%s",
    "\\",
]
edge_text = st.lists(st.sampled_from(EDGE_CHARS) | st.text(max_size=8), max_size=10).map("".join)
long_text = st.integers(min_value=1, max_value=40_000).map(lambda n: ("ワンピース" * (n // 5 + 1))[:n])
# Protobuf strings are UTF-8 on the wire: a lone surrogate becomes U+FFFD before it is sent
# (the WebSocket side sends them as JSON escapes).
strings = (edge_text | long_text | st.text(max_size=40)).map(
    lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
)
FD = pb_descriptor.FieldDescriptor
INT_BOUNDS = {
    FD.TYPE_INT32: 31,
    FD.TYPE_SINT32: 31,
    FD.TYPE_SFIXED32: 31,
    FD.TYPE_INT64: 63,
    FD.TYPE_SINT64: 63,
    FD.TYPE_SFIXED64: 63,
}
UINT_BOUNDS = {FD.TYPE_UINT32: 32, FD.TYPE_FIXED32: 32, FD.TYPE_UINT64: 64, FD.TYPE_FIXED64: 64}


def _integers(bits: int, signed: bool) -> st.SearchStrategy[int]:
    low, high = (-(2**bits), 2**bits - 1) if signed else (0, 2**bits - 1)
    return (
        st.integers(low, high)
        | st.sampled_from([low, high, 0, -1 if signed else 1, 2**31 - 1])
        | st.integers(-3, 1000).filter(lambda v: signed or v >= 0)
    )


def scalar(field: pb_descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t in INT_BOUNDS:
        return _integers(INT_BOUNDS[t], True)
    if t in UINT_BOUNDS:
        return _integers(UINT_BOUNDS[t], False)
    if t == FD.TYPE_FLOAT:
        return st.floats(width=32) | st.sampled_from([math.nan, math.inf, -math.inf, 3.4e38, -0.0])
    if t == FD.TYPE_DOUBLE:
        return st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, 1e308])
    if t == FD.TYPE_BOOL:
        return st.booleans()
    if t == FD.TYPE_STRING:
        return strings
    if t == FD.TYPE_BYTES:
        return st.binary(max_size=2_000)
    if t == FD.TYPE_ENUM:
        assert field.enum_type is not None
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-5, 1_000)
    raise TypeError(f"no strategy for field type {t}")


def message(descriptor: pb_descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with any subset of fields set to hostile values."""
    cls = message_factory.GetMessageClass(descriptor)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == FD.TYPE_MESSAGE:
            if depth >= 3:
                continue
            assert field.message_type is not None
            inner: st.SearchStrategy[Any] = message(field.message_type, depth + 1)
        else:
            inner = scalar(field)
        if field.is_repeated:
            size = 4 if field.type == FD.TYPE_MESSAGE else 40
            # Embeddings and the like: empty, short, the right size and far too long.
            if field.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
                lists = st.lists(inner, max_size=size) | st.integers(0, 3_000).map(
                    lambda n: [((i * 7_919) % 1_000) / 1_000 for i in range(n)]
                )
                fields[field.name] = lists
            else:
                fields[field.name] = st.lists(inner, max_size=size)
        else:
            fields[field.name] = inner

    def build(values: dict[str, Any]) -> Message:
        msg = cls()
        for name, value in values.items():
            field = descriptor.fields_by_name[name]
            target: Any = getattr(msg, name) if field.is_repeated or field.type == FD.TYPE_MESSAGE else None
            if field.is_repeated:
                if field.message_type is not None and field.message_type.GetOptions().map_entry:
                    for entry in value:
                        key, val = entry.key, getattr(entry, "value")  # noqa: B009
                        if isinstance(val, Message):
                            target[key].CopyFrom(val)
                        else:
                            target[key] = val
                else:
                    assert target is not None
                    target.extend(value)
            elif field.type == FD.TYPE_MESSAGE:
                assert target is not None
                target.CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return st.fixed_dictionaries({}, optional=fields).map(build)


def generate(strategy: st.SearchStrategy[Any], n: int, seed_value: int) -> list[Any]:
    """``n`` examples drawn by hypothesis (its generation phase only; nothing is shrunk)."""
    drawn: list[Any] = []

    @settings(
        max_examples=n, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def collect(example: Any) -> None:
        drawn.append(example)

    rounds = 0
    while len(drawn) < n and rounds < 5:  # hypothesis may stop early on small spaces; draw again
        seed(seed_value + rounds)(collect)()
        rounds += 1
    return drawn[:n]


def alive(cluster: Cluster) -> dict[str, int | None]:
    """Each process's exit code (``None``: still running)."""
    return {name: proc.poll() for name, proc in cluster.procs.items()}


async def _drain(call: Any) -> int:
    """Read a server stream to its end (or until the caller's timeout); the replies' count."""
    replies = 0
    async for _reply in call:
        replies += 1
    return replies


async def pool(items: list[Any], work: Callable[[Any], Awaitable[None]], concurrency: int) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- gRPC -------------------------------------------------------------------------------------


def _serialize(msg: Message) -> bytes:
    return msg.SerializeToString()


async def fuzz_method(
    channel: grpc.aio.Channel,
    service: pb_descriptor.ServiceDescriptor,
    method: pb_descriptor.MethodDescriptor,
    messages: list[Message],
    concurrency: int,
) -> dict[str, Any]:
    path = f"/{service.full_name}/{method.name}"
    reply_cls = message_factory.GetMessageClass(method.output_type)
    codes: Counter[str] = Counter()
    samples: list[dict[str, str]] = []
    durations: list[float] = []

    async def one(msg: Message) -> None:
        started = time.perf_counter()
        code = "OK"
        try:
            if method.server_streaming:
                stream: Any = channel.unary_stream(
                    path, request_serializer=_serialize, response_deserializer=reply_cls.FromString
                )
                call = stream(msg, timeout=30)
                try:
                    # A watch never ends by itself: read what comes in 50 ms, then hang up.
                    async with asyncio.timeout(0.05 if method.name.startswith("Watch") else 30):
                        await _drain(call)
                except TimeoutError:
                    call.cancel()
                    code = "CANCELLED"
            else:
                unary: Any = channel.unary_unary(
                    path, request_serializer=_serialize, response_deserializer=reply_cls.FromString
                )
                await unary(msg, timeout=30)
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
            if code not in CONTRACT_CODES and len(samples) < 5:
                samples.append({"code": code, "details": str(exc.details())[:300], "request": str(msg)[:300]})
        codes[code] += 1
        durations.append((time.perf_counter() - started) * 1000)

    await pool(messages, one, concurrency)
    durations.sort()
    return {
        "method": path,
        "cases": len(messages),
        "codes": dict(codes),
        "undocumented": sum(n for c, n in codes.items() if c not in CONTRACT_CODES),
        "undocumented_samples": samples,
        "p50_ms": round(durations[len(durations) // 2], 2) if durations else None,
        "p95_ms": round(durations[int(len(durations) * 0.95)], 2) if durations else None,
    }


async def fuzz_grpc(
    cluster: Cluster,
    n: int,
    concurrency: int,
    progress: Callable[[str], None],
    methods: set[str] | None = None,
    counts: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    results = []
    for name, service in SERVICES.items():
        async with grpc.aio.insecure_channel(
            cluster.address(name), options=[("grpc.max_send_message_length", 64 << 20)]
        ) as channel:
            for method in service.methods:
                if methods is not None and method.name not in methods:
                    continue
                wanted = (counts or {}).get(method.name, n)
                messages = generate(message(method.input_type), wanted, seed_value=sum(map(ord, method.full_name)))
                progress(f"gRPC {method.full_name}: {len(messages)} messages")
                before = alive(cluster)
                result = await fuzz_method(channel, service, method, messages, concurrency)
                result["exits"] = {k: v for k, v in alive(cluster).items() if v is not None and before.get(k) is None}
                results.append(result)
                progress(f"  {result['codes']}")
    return results


# --- WebSocket --------------------------------------------------------------------------------


def ws_strategy() -> st.SearchStrategy[Any]:
    """Frames as the wire carries them: ``("text", str)`` or ``("bytes", bytes)``."""
    sys.path.insert(0, str(REPO))
    from services.orchestrator.tests.test_schema_fuzz import frames  # the schema fuzzer's shapes

    as_json = frames.map(lambda f: ("text", json.dumps(f)))
    as_json_raw = frames.map(lambda f: ("text", json.dumps(f, ensure_ascii=False, allow_nan=True)))
    deep = st.integers(1, 100_000).map(lambda n: ("text", "[" * n + "]" * n))
    deep_obj = st.integers(1, 3_000).map(lambda n: ("text", '{"a":' * n + "1" + "}" * n))
    huge_number = st.integers(1, 5_000).map(
        lambda n: ("text", '{"type":"query","text":"hi","filters":{"max_price_jpy":' + "9" * n + "}}")
    )
    oversized = st.integers(16_000, 200_000).map(lambda n: ("text", json.dumps({"type": "query", "text": "x" * n})))
    not_json = st.text(max_size=200).map(lambda t: ("text", t))
    binary = st.binary(max_size=200).map(lambda b: ("bytes", b))
    return as_json | as_json | as_json_raw | deep | deep_obj | huge_number | oversized | not_json | binary


def _sendable(kind: str, payload: Any) -> Any:
    if kind == "bytes":
        return payload
    try:
        payload.encode()
    except UnicodeEncodeError:  # a lone surrogate cannot travel as UTF-8: send its JSON escape
        return json.dumps(payload)
    return payload


async def fuzz_ws(cluster: Cluster, n: int, connections: int, progress: Callable[[str], None]) -> dict[str, Any]:
    cases = generate(ws_strategy(), n, seed_value=1)
    progress(f"WebSocket: {len(cases)} frames over {connections} connections")
    replies: Counter[str] = Counter()
    bad: list[dict[str, Any]] = []
    dropped = 0
    durations: list[float] = []
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)

    async def terminal(ws: ClientConnection) -> dict[str, Any]:
        async with asyncio.timeout(30):
            while True:
                frame: dict[str, Any] = json.loads(await ws.recv())
                if frame.get("type") in ("done", "error"):
                    return frame

    async def client() -> None:
        nonlocal dropped
        ws = await connect(cluster.ws_url, compression=None, max_size=None)
        try:
            while not queue.empty():
                kind, payload = queue.get_nowait()
                started = time.perf_counter()
                try:
                    await ws.send(_sendable(kind, payload))
                    frame = await terminal(ws)
                except Exception as exc:  # the connection is gone or an answer never came
                    dropped += 1
                    if len(bad) < 10:
                        bad.append({"problem": type(exc).__name__, "frame": str(payload)[:200]})
                    await ws.close()
                    ws = await connect(cluster.ws_url, compression=None, max_size=None)
                    continue
                durations.append((time.perf_counter() - started) * 1000)
                key = frame["type"] if frame["type"] == "done" else f"error:{frame.get('code')}"
                replies[key] += 1
                if frame["type"] == "error" and frame.get("code") not in WS_CONTRACT and len(bad) < 10:
                    bad.append(
                        {"problem": frame.get("code"), "message": frame.get("message"), "frame": str(payload)[:200]}
                    )
        finally:
            await ws.close()

    canary: Counter[str] = Counter()
    finished = asyncio.Event()

    async def canary_loop() -> None:
        async with connect(cluster.ws_url, compression=None) as ws:
            i = 0
            while not finished.is_set():
                i += 1
                await ws.send(
                    json.dumps(
                        {
                            "type": "query",
                            "request_id": f"canary-{i}",
                            "session_id": "s-canary",
                            "text": "おすすめのファンタジー漫画は？",
                        },
                        ensure_ascii=False,
                    )
                )
                frame = await terminal(ws)
                canary[frame["type"] if frame["type"] == "done" else f"error:{frame.get('code')}"] += 1
                await asyncio.sleep(0.5)

    before = alive(cluster)
    canary_task = asyncio.create_task(canary_loop())
    await asyncio.gather(*(client() for _ in range(connections)))
    finished.set()
    await canary_task
    durations.sort()
    undocumented = sum(n for k, n in replies.items() if k.startswith("error:") and k[6:] not in WS_CONTRACT)
    return {
        "cases": len(cases),
        "replies": dict(replies),
        "undocumented": undocumented + dropped,
        "no_terminal_frame": dropped,
        "samples": bad,
        "canary": dict(canary),
        "exits": {k: v for k, v in alive(cluster).items() if v is not None and before.get(k) is None},
        "p50_ms": round(durations[len(durations) // 2], 2) if durations else None,
        "p95_ms": round(durations[int(len(durations) * 0.95)], 2) if durations else None,
    }


def run(
    grpc_n: int,
    ws_n: int,
    concurrency: int,
    out: Path,
    methods: set[str] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    env = cluster_env(
        MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE="zero", MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS="1"
    )
    started = time.time()
    with tempfile.TemporaryDirectory() as logs, Cluster(env=env, log_dir=Path(logs)) as cluster:
        grpc_results = asyncio.run(fuzz_grpc(cluster, grpc_n, concurrency, progress, methods, counts)) if grpc_n else []
        ws_result = asyncio.run(fuzz_ws(cluster, ws_n, concurrency, progress)) if ws_n else None
        exits = {k: v for k, v in alive(cluster).items() if v is not None}
    result = {
        "what": "hypothesis-generated gRPC requests per method and WebSocket frames against a fresh local cluster",
        "command": "python -m bench.fuzz " + " ".join(sys.argv[1:]),
        "seconds": round(time.time() - started, 1),
        "grpc": grpc_results,
        "websocket": ws_result,
        "process_exits": exits,
        "summary": {
            "grpc_min_cases_per_method": min((r["cases"] for r in grpc_results), default=0),
            "grpc_undocumented": sum(r["undocumented"] for r in grpc_results),
            "ws_cases": ws_result["cases"] if ws_result else 0,
            "ws_undocumented": ws_result["undocumented"] if ws_result else 0,
            "process_exits": len(exits) + sum(len(r["exits"]) for r in grpc_results),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grpc", type=int, default=10_000, help="messages per gRPC method")
    parser.add_argument("--ws", type=int, default=10_000, help="WebSocket frames")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--methods", type=lambda v: set(v.split(",")), help="only these gRPC methods (names)")
    parser.add_argument(
        "--count",
        action="append",
        default=[],
        metavar="METHOD=N",
        help="another number of messages for one method (e.g. Embed=2000: each is a model run)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    counts = {k: int(v) for k, v in (c.split("=", 1) for c in args.count)}
    result = run(args.grpc, args.ws, args.concurrency, args.out, args.methods, counts)
    print(json.dumps(result["summary"], indent=2))
    print(args.out)


if __name__ == "__main__":
    main()
