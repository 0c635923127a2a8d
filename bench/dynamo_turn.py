"""What one conversation turn's DynamoDB calls cost the orchestrator's CPU, by client and server.

    python -m bench.dynamo_turn [--reps 5] [--turns 100]

A turn is what the orchestrator does per answer: one ``GetItem`` (the session) and one
conditional ``PutItem`` (the turn appended). Client CPU (this process, ``time.process_time``)
per turn, medians of ``--reps`` interleaved repetitions (the order of the cells rotates from
one repetition to the next), and the share of turns that raised, for:

* ``aioboto3`` — the shipped ``DynamoSessionStore`` on ``DynamoClient`` (aioboto3, adaptive
  retries, parameter validation, a CLIENT span per call through the client's event hooks);
* ``aiodynamo`` — the same store on ``AiodynamoClient`` (aiodynamo's aiohttp adaptor, one
  keep-alive session, the standard retry schedule, a CLIENT span per call, errors mapped to
  botocore's);
* ``aiohttp + SigV4`` — the same two requests built by hand: the body with orjson, signed
  with botocore's own ``SigV4Auth``, posted on one keep-alive aiohttp session (no retries,
  no spans, no error mapping: the floor a lean client could reach, not a client to ship);

against two servers:

* **moto** (``moto_server``, the local stand-in) — its werkzeug server answers every request
  with ``Connection: close``, so every call opens a new TCP connection;
* **keep-alive stand-in** — a few lines of aiohttp answering ``GetItem`` / ``PutItem`` with
  fixed replies on keep-alive connections, as DynamoDB does (bench only: it checks nothing).

Writes ``bench/results/dynamo_turn.json``. Numbers, never pass/fail; the box is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from mangaassist.orchestrator.dynamo import AiodynamoClient, DynamoClient, DynamoSessionStore, _to_item
from mangaassist.orchestrator.sessions import Turn

REPO = Path(__file__).resolve().parents[1]
REGION = "ap-northeast-1"
TABLE = "sessions"
QUESTION = "おすすめのダークファンタジーは？ " * 3
ANSWER = "ベルセルクはいかがでしょう。 " * 30

KEEPALIVE_SERVER = """
import sys
from aiohttp import web
GET = b'{"Item": {"session_id": {"S": "s"}, "version": {"N": "1"}, "expires_at": {"N": "9999999999"}}}'
async def handle(request):
    await request.read()
    body = GET if request.headers.get("X-Amz-Target", "").endswith("GetItem") else b"{}"
    return web.Response(body=body, content_type="application/x-amz-json-1.0", headers={"x-amzn-RequestId": "r"})
app = web.Application()
app.router.add_post("/", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


class _Discard(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


CLIENTS: dict[str, Any] = {"aioboto3": DynamoClient, "aiodynamo": AiodynamoClient}


async def shipped(client: str, url: str, turns: int, tag: str, tracer: Any) -> tuple[float, int]:
    """CPU ms per turn and turns that raised, through the shipped store on ``client``."""
    db = CLIENTS[client](REGION, url, tracer=tracer)
    await db.open()
    errors = 0
    try:
        store = DynamoSessionStore(db, TABLE, 3600)
        for i in range(-5, turns):
            if i == 0:
                started, errors = time.process_time(), 0
            sid = f"s-{client}-{tag}-{i % 20}"
            try:
                session = await store.load(sid)
                await store.append(sid, Turn(None, "product_search", QUESTION, ANSWER, 0.001, b"state" * 20), session)
            except Exception:
                errors += 1
        return (time.process_time() - started) * 1000 / turns, errors
    finally:
        await db.close()


async def lean(url: str, turns: int, tag: str) -> tuple[float, int]:
    credentials = Credentials("local", "local")

    async def call(http: aiohttp.ClientSession, target: str, body: dict[str, Any]) -> dict[str, Any]:
        data = orjson.dumps(body)
        request = AWSRequest(
            method="POST",
            url=url + "/",
            data=data,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{target}"},
        )
        SigV4Auth(credentials, "dynamodb", REGION).add_auth(request)
        async with http.post(url + "/", data=data, headers=dict(request.headers.items())) as resp:
            reply: dict[str, Any] = orjson.loads(await resp.read())
            return reply

    errors = 0
    async with aiohttp.ClientSession() as http:
        for i in range(-5, turns):
            if i == 0:
                started, errors = time.process_time(), 0
            sid = f"l-{tag}-{i}"
            reply = await call(
                http, "GetItem", {"TableName": TABLE, "Key": {"session_id": {"S": sid}}, "ConsistentRead": True}
            )
            errors += "__type" in reply
            item = _to_item(
                {
                    "session_id": sid,
                    "turns": [{"r": "user", "t": QUESTION}, {"r": "assistant", "t": ANSWER}],
                    "version": 1,
                }
            )
            item["state"] = {"B": base64.b64encode(b"state" * 20).decode()}  # binary goes as base64 in JSON
            reply = await call(
                http,
                "PutItem",
                {"TableName": TABLE, "Item": item, "ConditionExpression": "attribute_not_exists(session_id)"},
            )
            errors += "__type" in reply
        return (time.process_time() - started) * 1000 / turns, errors


async def measure(servers: dict[str, str], reps: int, turns: int) -> dict[str, Any]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Discard()))
    tracer = provider.get_tracer("bench")
    db = DynamoClient(REGION, servers["moto"])
    await db.open()
    await db.ensure_table(TABLE, "session_id")
    await db.close()
    cells: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    names = ["aioboto3", "aiodynamo", "aiohttp + SigV4"]
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for server, url in servers.items():
            for name in order:
                if name == "aiohttp + SigV4":
                    cpu, errors = await lean(url, turns, f"{rep}")
                else:
                    cpu, errors = await shipped(name, url, turns, f"{rep}", tracer)
                cells.setdefault(f"{name} / {server}", []).append(cpu)
                failed[f"{name} / {server}"] = failed.get(f"{name} / {server}", 0) + errors
    provider.shutdown()
    report: dict[str, Any] = {}
    for name, v in cells.items():
        report[name] = {
            "median_ms": round(statistics.median(v), 3),
            "runs_ms": [round(x, 3) for x in v],
            "turns": turns * reps,
            "errors": failed[name],
            "error_rate": round(failed[name] / (turns * reps), 4),
        }
    for server in servers:
        a, b = report[f"aioboto3 / {server}"], report[f"aiodynamo / {server}"]
        ratios = [y / x for x, y in zip(a["runs_ms"], b["runs_ms"], strict=True)]
        report[f"aiodynamo / aioboto3 / {server}"] = {
            "ratio_of_medians": round(b["median_ms"] / a["median_ms"], 3),
            "ratio_per_rep": [round(r, 3) for r in ratios],
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--out", default="", help="results file (default bench/results/dynamo_turn.json)")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION=REGION)
    moto_port, keepalive_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "keepalive_server.py"
        script.write_text(KEEPALIVE_SERVER)
        procs = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            subprocess.Popen([sys.executable, str(script), str(keepalive_port)]),
        ]
        try:

            async def run() -> dict[str, Any]:
                await wait_listening(moto_port)
                await wait_listening(keepalive_port)
                return await measure(
                    {
                        "moto": f"http://127.0.0.1:{moto_port}",
                        "keep-alive stand-in": f"http://127.0.0.1:{keepalive_port}",
                    },
                    args.reps,
                    args.turns,
                )

            cells = uvloop.run(run())
        finally:
            for proc in procs:
                proc.kill()
    for name, cell in cells.items():
        if "ratio_of_medians" in cell:
            print(f"{name:<40} B / A {cell['ratio_of_medians']:.3f}  per repetition {cell['ratio_per_rep']}")
        else:
            print(
                f"{name:<40} client CPU {cell['median_ms']:6.2f} ms per turn (GetItem + PutItem), "
                f"errors {cell['errors']}/{cell['turns']}  runs {cell['runs_ms']}"
            )
    report = {
        "benchmark": "dynamo_turn",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "shared_box": True,
        "reps": args.reps,
        "turns_per_rep": args.turns,
        "client_cpu_ms_per_turn": cells,
    }
    path = Path(args.out) if args.out else REPO / "bench" / "results" / "dynamo_turn.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
