"""``make up REPLICAS=2`` drills: stock propagation across retrieval replicas, and answers while
one replica of each gRPC service is stopped (SIGTERM) or crashes (SIGKILL).

One cluster with two replicas of each gRPC service under the ``make up`` supervisor (on a
thread). Prints a table and writes ``bench/results/replica_drill.json``:

* seconds from ``UpdateStock`` on one replica until every replica answers with the new stock
  (median / p95 / max over ``--trials`` changes, alternating the replica that takes them);
* per drill round and signal: questions asked, answered in full, answers resumed on another
  replica after their stream broke, error codes (with their messages), answer latency p50 / p95 during the drill, seconds until each victim served again.

Numbers from this 2-core box are noisy when others share it; the share answered is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.common import REPO, cluster_env, pct, save_result, stamp
from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.replicas import ask_while_killing, stock_propagation
from mangaassist.devtools.supervisor import Backoff, Supervisor

ROUNDS = {  # victims per round: one replica of each service, alternating which one
    0: ["intent", "retrieval-2", "inference"],
    1: ["intent-2", "retrieval", "inference-2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="drill rounds per signal")
    parser.add_argument("--customers", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "replica_drill.json")
    args = parser.parse_args()
    env = cluster_env(
        MANGAASSIST_BEDROCK_EMULATOR_LATENCY_PROFILE="zero", MANGAASSIST_BEDROCK_EMULATOR_TOKEN_DELAY_MS="1"
    )
    drills: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as logs:
        cluster = Cluster(env=env, log_dir=Path(logs), replicas=2).start()
        supervisor = Supervisor(cluster, Backoff(initial_s=0.5, max_s=4))
        stop = threading.Event()
        thread = threading.Thread(target=supervisor.run, args=(stop, 0.1), daemon=True)
        thread.start()
        try:
            seconds = stock_propagation(cluster, "Blue Lock volume 20", args.trials)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for n in range(args.rounds):
                    victims = ROUNDS[n % len(ROUNDS)]
                    result = asyncio.run(ask_while_killing(cluster, supervisor, victims, sig, args.customers))
                    drills.append(
                        {
                            "signal": sig.name,
                            "victims": victims,
                            "questions": len(result.outcomes),
                            "answered": len(result.answered),
                            "answered_share": len(result.answered) / max(1, len(result.outcomes)),
                            "resumed": result.resumed,
                            "errors": result.errors,
                            "error_messages": sorted(
                                {f"{o['code']}: {o['message']}" for o in result.outcomes if o["type"] != "done"}
                            ),
                            "fallback_replies": sum(1 for o in result.outcomes if o["type"] == "done")
                            - len(result.answered),
                            "p50_ms": pct(result.latencies_ms, 50),
                            "p95_ms": pct(result.latencies_ms, 95),
                            "serving_again_after_s": {k: round(v, 2) for k, v in result.restarted_after_s.items()},
                        }
                    )
        finally:
            stop.set()
            thread.join(10)
            cluster.stop()
    seen = [s for s in seconds if s is not None]
    median, p95, worst = pct(seen, 50), pct(seen, 95), max(seen) if seen else float("nan")
    propagation = {
        "trials": len(seconds),
        "not_within_10s": len(seconds) - len(seen),
        "median_s": median,
        "p95_s": p95,
        "max_s": worst,
    }
    print(
        f"\nstock change visible on every retrieval replica: median {median * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {worst * 1000:.0f} ms "
        f"over {len(seconds)} changes ({propagation['not_within_10s']} not within 10 s)"
    )
    print(f"\n{'signal':<9}{'victims':<34}{'asked':>7}{'answered':>10}{'resumed':>9}{'p50 ms':>9}{'p95 ms':>9}  errors")
    for d in drills:
        print(
            f"{d['signal']:<9}{','.join(d['victims']):<34}{d['questions']:>7}"
            f"{d['answered_share'] * 100:>9.1f}%{d['resumed']:>9}{d['p50_ms']:>9.1f}{d['p95_ms']:>9.1f}"
            f"  {d['errors'] or '-'}"
        )
    save_result(
        {
            **stamp("replica_drill"),
            "replicas": 2,
            "customers": args.customers,
            "stock_propagation": propagation,
            "drills": drills,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
