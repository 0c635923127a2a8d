"""Intent benchmark: held-out quality of both heads, the validation numbers they were chosen by, and latency.

Quality is measured on the committed **test** split (template families never seen in
training) with the shipped artefact, for the **fusion** head (n-grams + the shared
e5-small query embedding: what the mesh uses) and the **text** head (n-grams only:
the fallback when no embedding is available): accuracy and macro-F1 overall, per
language (ja / en / mixed) and per test batch (``v1``: the first session's families,
inspected during the error analysis; ``v2-fresh``: families written before any look at
the errors and never inspected), per-intent precision/recall, the confusion matrix,
calibration (expected calibration error, 15 bins), and abstention (coverage, accuracy
of the answered messages, confident-but-wrong rate) at the shipped thresholds and
along the curve. The grouped cross-validation numbers the heads were chosen by come from
the artefact. Latency: p50/p95 of each head in numpy and of the full in-service work
(model + entities + routing), interleaved call by call, with the shared query embedding
measured separately (it is computed once by the retrieval service, not here); then
``Classify`` over gRPC against a real intent process. Writes
``bench/results/intent.json``; never passes or fails on a number.

    python -m bench.intent [--calls 2000]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import platform
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.common import pct, whole_number_options
from mangaassist.common.grpc_client import open_channel
from mangaassist.devtools.cluster import Cluster
from mangaassist.intent.config import DEFAULT_MODEL_PATH
from mangaassist.intent.entities import extract
from mangaassist.intent.model import IntentModel
from mangaassist.intent.routing import HANDLING_GROUPS, handling_confidence
from mangaassist.intent.service import IntentServicer
from mangaassist.intent_training import DATASET
from mangaassist.intent_training.dataset import Example, load_examples
from mangaassist.intent_training.train import EMBEDDER, embed
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHORT = {
    "product_recommendation": "rec",
    "product_search": "search",
    "product_question": "question",
    "order_status": "order",
    "return_refund": "return",
    "shipping_info": "ship",
    "payment": "pay",
    "account": "account",
    "greeting": "greet",
    "escalation": "escal",
    "out_of_scope": "oos",
}
CURVE = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def f1_table(y: list[str], p: list[str], labels: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for label in labels:
        tp = sum(a == label and b == label for a, b in zip(y, p, strict=True))
        fp = sum(a != label and b == label for a, b in zip(y, p, strict=True))
        fn = sum(a == label and b != label for a, b in zip(y, p, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return out


def macro_f1(y: list[str], p: list[str], labels: list[str]) -> float:
    present = [label for label in labels if label in y]
    table = f1_table(y, p, present)
    return float(np.mean([table[label]["f1"] for label in present]))


def expected_calibration_error(conf: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], bins: int = 15) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if mask.any():
            total += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(total)


def evaluate(
    model: IntentModel,
    test: list[Example],
    embeddings: npt.NDArray[np.float32] | None,
    batches: list[str],
) -> dict[str, Any]:
    """Held-out quality of the fusion head (``embeddings`` given) or of the text head."""
    if embeddings is None:
        preds = [model.predict(e.text) for e in test]
    else:
        preds = [model.predict(e.text, v) for e, v in zip(test, embeddings, strict=True)]
    threshold = preds[0].threshold
    y = [e.intent for e in test]
    p = [x.intent for x in preds]
    conf = np.array([x.confidence for x in preds])
    # Abstention as the service decides it: on the probability of the top intent's handling.
    handling = np.array([handling_confidence(x.ranked()) for x in preds])
    correct = np.array([a == b for a, b in zip(y, p, strict=True)])
    same_handling = np.array(
        [a == b or any(a in g and b in g for g in HANDLING_GROUPS) for a, b in zip(y, p, strict=True)]
    )
    labels = list(model.labels)
    by_lang = {}
    for lang in ("ja", "en", "mixed"):
        idx = [i for i, e in enumerate(test) if e.lang == lang]
        by_lang[lang] = {
            "n": len(idx),
            "accuracy": float(correct[idx].mean()),
            "macro_f1": macro_f1([y[i] for i in idx], [p[i] for i in idx], labels),
        }
    answered = handling >= threshold
    by_batch = {}
    for batch in sorted(set(batches)):
        idx = [i for i, b in enumerate(batches) if b == batch]
        by_batch[batch] = {
            "n": len(idx),
            "accuracy": float(correct[idx].mean()),
            "macro_f1": macro_f1([y[i] for i in idx], [p[i] for i in idx], labels),
            "coverage": float(answered[idx].mean()),
            "confident_wrong": float((answered[idx] & ~correct[idx]).mean()),
        }
    curve = []
    for t in CURVE:
        a = handling >= t
        curve.append(
            {
                "threshold": t,
                "coverage": float(a.mean()),
                "answered_accuracy": float(correct[a].mean()) if a.any() else float("nan"),
                "confident_wrong": float((a & ~correct).mean()),
                "confident_wrong_handling": float((a & ~same_handling).mean()),
            }
        )
    confusion = {t: dict(Counter(b for a, b in zip(y, p, strict=True) if a == t)) for t in labels}
    return {
        "n": len(test),
        "accuracy": float(correct.mean()),
        "macro_f1": macro_f1(y, p, labels),
        "by_language": by_lang,
        "by_batch": by_batch,
        "per_intent": f1_table(y, p, labels),
        "confusion": confusion,
        "ece": expected_calibration_error(conf, correct),
        "threshold": threshold,
        "temperature": model.fusion.temperature if embeddings is not None and model.fusion else model.temperature,
        "coverage": float(answered.mean()),
        "answered_accuracy": float(correct[answered].mean()) if answered.any() else float("nan"),
        "confident_wrong": float((answered & ~correct).mean()),
        "confident_wrong_handling": float((answered & ~same_handling).mean()),
        "abstained_accuracy": float(correct[~answered].mean()) if (~answered).any() else float("nan"),
        "curve": curve,
    }


async def in_process_latency(
    model: IntentModel, texts: list[str], embeddings: npt.NDArray[np.float32], calls: int
) -> dict[str, Any]:
    """Interleaved per call: each numpy head, the full servicer work with and without the
    shared embedding, entities alone; the embedding itself (retrieval's work) apart."""
    from mangaassist.devtools.e5 import query_embedder  # what RetrievalService.Embed runs

    servicer = IntentServicer(model, None, 4000)
    timings: dict[str, list[float]] = {
        "text head (numpy)": [],
        "fusion head (numpy)": [],
        "in-service Classify, fusion": [],
        "in-service Classify, text only": [],
        "entity extraction": [],
    }
    for i in range(calls):
        k = i % len(texts)
        text, vector = texts[k], embeddings[k]
        fused = intent_pb2.ClassifyRequest(text=text, query_embedding=vector.tolist(), embedding_model=EMBEDDER)
        plain = intent_pb2.ClassifyRequest(text=text)
        t0 = time.perf_counter()
        model.predict(text)
        t1 = time.perf_counter()
        model.predict(text, vector)
        t2 = time.perf_counter()
        await servicer.Classify(fused, None)  # type: ignore[arg-type]
        t3 = time.perf_counter()
        await servicer.Classify(plain, None)  # type: ignore[arg-type]
        t4 = time.perf_counter()
        extract(text)
        t5 = time.perf_counter()
        timings["text head (numpy)"].append((t1 - t0) * 1000)
        timings["fusion head (numpy)"].append((t2 - t1) * 1000)
        timings["in-service Classify, fusion"].append((t3 - t2) * 1000)
        timings["in-service Classify, text only"].append((t4 - t3) * 1000)
        timings["entity extraction"].append((t5 - t4) * 1000)
    out: dict[str, Any] = {k: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in timings.items()}
    # CPU time per call (process time): what the work costs, unaffected by the other
    # processes that share this box and stretch the wall-clock tail.
    requests = [
        intent_pb2.ClassifyRequest(text=t, query_embedding=v.tolist(), embedding_model=EMBEDDER)
        for t, v in zip(texts, embeddings, strict=True)
    ]
    started = time.process_time()
    for i in range(calls):
        await servicer.Classify(requests[i % len(requests)], None)  # type: ignore[arg-type]
    out["in-service Classify, fusion"]["cpu_ms_per_call"] = (time.process_time() - started) * 1000 / calls
    # The shared query embedding, for reference: computed once per request by the
    # retrieval service (for the search and the semantic cache), not by the intent service.
    embedder = query_embedder()
    embed_times = []
    for text in texts[: min(200, len(texts))]:
        started = time.perf_counter()
        embedder(text)
        embed_times.append((time.perf_counter() - started) * 1000)
    out["shared query embedding (retrieval, e5-small; not in Classify)"] = {
        "p50_ms": pct(embed_times, 50),
        "p95_ms": pct(embed_times, 95),
    }
    return out


async def grpc_latency(texts: list[str], embeddings: npt.NDArray[np.float32], calls: int) -> dict[str, Any]:
    """Sequential ``Classify`` calls (with the shared embedding, as the orchestrator sends
    them) to a real intent process on an ephemeral port."""
    logs = tempfile.TemporaryDirectory()
    cluster = Cluster(log_dir=Path(logs.name))
    cluster.spawn("intent")
    try:
        cluster.wait_serving("intent", timeout=60)
        channel = open_channel(cluster.address("intent"))
        stub = intent_pb2_grpc.IntentServiceStub(channel)
        requests = [
            intent_pb2.ClassifyRequest(text=t, query_embedding=v.tolist(), embedding_model=EMBEDDER)
            for t, v in zip(texts, embeddings, strict=True)
        ]
        for request in requests[:100]:  # warm-up
            await stub.Classify(request, timeout=5)
        times = []
        for i in range(calls):
            started = time.perf_counter()
            reply = await stub.Classify(requests[i % len(requests)], timeout=5)
            times.append((time.perf_counter() - started) * 1000)
        assert reply.classifier == "fusion", "the intent process did not use the fusion head"
        await channel.close()
    finally:
        cluster.stop()
        logs.cleanup()
    return {"p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "calls": calls}


def print_quality(name: str, q: dict[str, Any]) -> None:
    print(f"\n### {name}\n")
    print("| subset | n | accuracy | macro-F1 |\n|---|---:|---:|---:|")
    print(f"| all | {q['n']} | {q['accuracy']:.3f} | {q['macro_f1']:.3f} |")
    for lang, m in q["by_language"].items():
        print(f"| {lang} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |")
    for batch, m in q["by_batch"].items():
        print(f"| batch {batch} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |")
    print(f"\nCalibration: ECE {q['ece']:.3f} (15 bins, temperature {q['temperature']:.3f})")
    print(
        f"Abstention at the shipped threshold {q['threshold']:.3f}: coverage {q['coverage']:.3f}, "
        f"accuracy of answered {q['answered_accuracy']:.3f}, confident-but-wrong {q['confident_wrong']:.3f} "
        f"of all messages (wrong handling: {q['confident_wrong_handling']:.3f}), "
        f"accuracy of abstained {q['abstained_accuracy']:.3f}"
    )
    for batch, m in q["by_batch"].items():
        print(f"  batch {batch}: coverage {m['coverage']:.3f}, confident-but-wrong {m['confident_wrong']:.3f}")
    print(
        "\n| threshold | coverage | answered accuracy | confident-but-wrong | wrong handling |\n|---:|---:|---:|---:|---:|"
    )
    for row in q["curve"]:
        print(
            f"| {row['threshold']:.2f} | {row['coverage']:.3f} | {row['answered_accuracy']:.3f} | "
            f"{row['confident_wrong']:.3f} | {row['confident_wrong_handling']:.3f} |"
        )
    print("\n| intent | precision | recall | F1 | n |\n|---|---:|---:|---:|---:|")
    for label, m in q["per_intent"].items():
        print(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    labels = list(q["per_intent"])
    short = [SHORT.get(label, label) for label in labels]
    print(
        "\nConfusion matrix (rows: true, columns: predicted): "
        + ", ".join(f"{s}={label}" for s, label in zip(short, labels, strict=True))
    )
    print("| true \\ predicted | " + " | ".join(short) + " |\n|---|" + "---:|" * len(labels))
    for label, s in zip(labels, short, strict=True):
        row = q["confusion"][label]
        print(f"| {s} | " + " | ".join(str(row.get(other, 0)) for other in labels) + " |")


def print_report(result: dict[str, Any]) -> None:
    print(
        f"\nHeld-out test split: {result['quality']['fusion']['n']} messages from families never seen in "
        f"training (model {result['model_version']})"
    )
    print_quality(
        "fusion head (n-grams + shared e5-small query embedding; what the mesh uses)", result["quality"]["fusion"]
    )
    print_quality("text head (n-grams only; the fallback without an embedding)", result["quality"]["text"])
    print(
        "\n| validation (grouped 5-fold CV on train, by family) | accuracy | threshold | coverage | "
        "confident-but-wrong |\n|---|---:|---:|---:|---:|"
    )
    for name, v in result["validation"].items():
        print(
            f"| {name} | {v['accuracy']:.3f} | {v['threshold']:.3f} | {v['coverage']:.3f} | "
            f"{v['confident_wrong']:.3f} |"
        )
    print("\n| classification latency | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, m in result["latency_in_process"].items():
        print(f"| {name} (in process) | {m['p50_ms']:.3f} | {m['p95_ms']:.3f} |")
    cpu = result["latency_in_process"]["in-service Classify, fusion"]["cpu_ms_per_call"]
    print(f"| in-service Classify (fusion), CPU time per call (mean) | {cpu:.3f} | |")
    g = result["latency_grpc"]
    print(
        f"| Classify over gRPC with the embedding (loopback, separate process) | {g['p50_ms']:.3f} | "
        f"{g['p95_ms']:.3f} |"
    )


def git_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
    ).stdout.strip()


async def main() -> None:
    args = whole_number_options(calls=2000)

    model = IntentModel.load(DEFAULT_MODEL_PATH)
    rows = [json.loads(line) for line in DATASET.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = load_examples(DATASET)
    test = [e for e in examples if e.split == "test"]
    batches = [str(r.get("batch", "v1")) for r in rows if r["split"] == "test"]
    texts = [e.text for e in test]
    embeddings = embed(texts)  # what RetrievalService.Embed returns for these messages (cached)
    commit = git_commit()
    result: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "python": platform.python_version(),
        "model_version": model.version,
        "quality": {"fusion": evaluate(model, test, embeddings, batches), "text": evaluate(model, test, None, batches)},
        "validation": {"fusion head": model.metadata["fusion_validation"], "text head": model.metadata["validation"]},
        "latency_in_process": await in_process_latency(model, texts, embeddings, args.calls),
        "latency_grpc": await grpc_latency(texts, embeddings, args.calls),
    }
    print_report(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intent.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {(RESULTS / 'intent.json').relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
