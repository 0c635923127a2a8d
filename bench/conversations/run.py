"""Run the hand-written conversation suite through the real mesh processes.

    python -m bench.conversations.run                 # dev and test splits, a fresh local cluster
    python -m bench.conversations.run --split test --limit 20
    python -m bench.conversations.run --url ws://127.0.0.1:8080/ws   # a running cluster (make up)

Every conversation is one session; each turn waits for its terminal frame. Prints the
pass rate of turns per split and language, with the error rate and latency beside it,
and writes ``bench/results/conversations.json``. Failures are listed by conversation for
the dev split only: the test split is held out, so only its aggregate is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from bench.conversations.checks import check_turn
from mangaassist.devtools.cluster import LOCAL_AUTH_SECRET, Cluster
from mangaassist.orchestrator.auth import issue_token

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "bench" / "results" / "conversations.json"
DEMO_CUSTOMER = "cust-0001"
TURN_TIMEOUT_S = 20.0


def load(split: str) -> list[dict[str, Any]]:
    with (HERE / f"{split}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@contextmanager
def local_cluster() -> Iterator[str]:
    env = {
        "MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index"),
        "MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE": "zero",
        "MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS": "1",
    }
    with tempfile.TemporaryDirectory() as logs:
        cluster = Cluster(env=env, log_dir=Path(logs)).start()
        try:
            yield cluster.ws_url
        finally:
            cluster.stop()


async def run_conversation(url: str, conv: dict[str, Any]) -> list[dict[str, Any]]:
    """Each turn's outcome: failed checks, latency, the frame's type/intent."""
    headers = (
        {"Authorization": f"Bearer {issue_token(LOCAL_AUTH_SECRET, DEMO_CUSTOMER)}"} if conv.get("signed_in") else None
    )
    out: list[dict[str, Any]] = []
    session_id: str | None = None
    async with connect(url, additional_headers=headers, compression=None, max_size=2**22) as ws:
        for i, turn in enumerate(conv["turns"]):
            request_id = f"{conv['id']}-{i}"
            frame: dict[str, Any] = {"type": "query", "request_id": request_id, "text": turn["text"]}
            if session_id:
                frame["session_id"] = session_id
            started = time.perf_counter()
            first: float | None = None
            await ws.send(json.dumps(frame, ensure_ascii=False))
            terminal: dict[str, Any] = {"type": "error", "code": "client_timeout"}
            # A turn with no terminal frame in time stays the "client_timeout" error set above.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TURN_TIMEOUT_S):
                    while True:
                        got = json.loads(await ws.recv())
                        if got.get("request_id") != request_id:
                            continue
                        if got["type"] == "token" and first is None:
                            first = time.perf_counter()
                        if got["type"] in ("done", "error"):
                            terminal = got
                            break
            ended = time.perf_counter()
            session_id = terminal.get("session_id", session_id)
            expected_intent = (turn.get("expect") or {}).get("intent")
            out.append(
                {
                    "expected_intent": "|".join(expected_intent)
                    if isinstance(expected_intent, list)
                    else expected_intent,
                    "failed": check_turn(turn.get("expect") or {}, terminal),
                    "error": terminal.get("type") == "error",
                    "ttft_ms": ((first or ended) - started) * 1000,
                    "total_ms": (ended - started) * 1000,
                    "got": {
                        "intent": terminal.get("intent"),
                        "clarify": (terminal.get("clarify") or {}).get("kind"),
                        "top": [
                            (p.get("series_id"), p.get("language"), p.get("volume"))
                            for p in (terminal.get("products") or [])[:2]
                        ],
                        "state": terminal.get("state"),
                        "reason": terminal.get("route_reason"),
                    },
                }
            )
    return out


async def run_split(url: str, conversations: list[dict[str, Any]], concurrency: int) -> list[list[dict[str, Any]]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(conv: dict[str, Any]) -> list[dict[str, Any]]:
        async with gate:
            return await run_conversation(url, conv)

    return list(await asyncio.gather(*(one(c) for c in conversations)))


def summarise(conversations: list[dict[str, Any]], outcomes: list[list[dict[str, Any]]]) -> dict[str, Any]:
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for conv, turns in zip(conversations, outcomes, strict=True):
        by_lang[conv["lang"]].extend(turns)
        by_lang["all"].extend(turns)
    out: dict[str, Any] = {}
    for lang, turns in sorted(by_lang.items()):
        ttft = [t["ttft_ms"] for t in turns]
        out[lang] = {
            "turns": len(turns),
            "passed": sum(1 for t in turns if not t["failed"]),
            "pass_rate": round(sum(1 for t in turns if not t["failed"]) / max(1, len(turns)), 4),
            "error_rate": round(sum(1 for t in turns if t["error"]) / max(1, len(turns)), 4),
            "generic_ask_backs": sum(1 for t in turns if "generic_ask_back" in t["failed"]),
            "ttft_p50_ms": round(float(np.percentile(ttft, 50)), 1) if ttft else None,
            "ttft_p95_ms": round(float(np.percentile(ttft, 95)), 1) if ttft else None,
            "failed_checks": dict(Counter(name for t in turns for name in t["failed"]).most_common()),
            # Product-intent labels are where the suite and the intent taxonomy disagree most
            # ("how much is vol 1?": a search by the taxonomy); shown apart, never hidden.
            "pass_rate_ignoring_intent": round(
                sum(1 for t in turns if not [f for f in t["failed"] if f != "intent"]) / max(1, len(turns)), 4
            ),
            "intent_mismatches": dict(
                Counter(
                    f"{t['expected_intent']} -> {t['got']['intent']}" for t in turns if "intent" in t["failed"]
                ).most_common()
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="all")
    parser.add_argument("--limit", type=int, default=0, help="first N conversations of each split")
    parser.add_argument("--url", help="WebSocket URL of a running orchestrator (default: start a cluster)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--show-failures", action="store_true", help="list failing dev turns")
    parser.add_argument("--only", default="", help="dev conversation ids (comma-separated) to run alone")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.only and args.split != "dev":
        parser.error("--only picks dev conversations (the test split is run whole)")
    splits = ("dev", "test") if args.split == "all" else (args.split,)

    def run(url: str) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for split in splits:
            conversations = load(split)[: args.limit or None]
            if args.only:
                conversations = [c for c in conversations if c["id"] in args.only.split(",")]
            outcomes = asyncio.run(run_split(url, conversations, args.concurrency))
            results[split] = summarise(conversations, outcomes)
            if split == "dev" and args.show_failures:
                for conv, turns in zip(conversations, outcomes, strict=True):
                    for turn, outcome in zip(conv["turns"], turns, strict=True):
                        if outcome["failed"]:
                            print(
                                f"  {conv['id']}: {turn['text']!r} -> {outcome['failed']}\n"
                                f"      expected {turn.get('expect')}\n      got {outcome['got']}"
                            )
        return results

    if args.url:
        results = run(args.url)
    else:
        with local_cluster() as url:
            results = run(url)
    print(
        f"{'split':6} {'lang':6} {'turns':>6} {'passed':>7} {'no-intent':>10} {'errors':>7} {'generic':>8} "
        f"{'TTFT p50':>9} {'p95':>7}"
    )
    for split, by_lang in results.items():
        for lang, r in by_lang.items():
            print(
                f"{split:6} {lang:6} {r['turns']:6d} {r['pass_rate']:7.1%} {r['pass_rate_ignoring_intent']:10.1%} "
                f"{r['error_rate']:7.1%} {r['generic_ask_backs']:8d} {r['ttft_p50_ms']:9.1f} {r['ttft_p95_ms']:7.1f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "conditions": "local cluster, emulator latency profile zero, "
                f"{args.concurrency} conversations at a time",
                "results": results,
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    print(args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
