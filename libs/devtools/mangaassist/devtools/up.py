"""``make up``: run the local cluster in the foreground, restarting what crashes, until Ctrl-C / SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from mangaassist.devtools.cluster import DEFAULT_PORTS, Cluster
from mangaassist.devtools.supervisor import Supervisor

# Each replica holds the catalog index in memory: two cores hold two of each comfortably.
MAX_REPLICAS = 4


def main() -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s supervisor: %(message)s", level=logging.INFO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        replicas = int(os.environ.get("REPLICAS") or "1")
        if not 1 <= replicas <= MAX_REPLICAS:
            raise ValueError
    except ValueError:
        print(f"REPLICAS must be a whole number from 1 to {MAX_REPLICAS}", file=sys.stderr)
        return 2
    cluster = Cluster(ports=DEFAULT_PORTS, replicas=replicas)
    print("starting the MangaAssist local cluster (first start embeds the catalog)...", flush=True)
    try:
        cluster.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"cluster failed to start: {exc}", file=sys.stderr)
        return 1
    print("\nMangaAssist is up:", flush=True)
    print(f"  chat window       http://{cluster.address('orchestrator')}/  (open in a browser)")
    print(f"  chat (WebSocket)  {cluster.ws_url}")
    print(f"  health            {cluster.health_url}")
    for name in cluster.grpc_processes:
        print(f"  {name:<17} grpc://{cluster.address(name)}")
    if replicas > 1:
        print(
            f"  ({replicas} replicas of each gRPC service: the orchestrator balances per call; "
            "retrieval replicas share stock changes)"
        )
    print(f"  AWS stand-in      http://{cluster.address('aws')}  (moto: DynamoDB sessions + orders)")
    print(f"  cache (Redis)     redis://{cluster.address('redis')}  (Redis Stack: semantic cache)")
    print(
        f"  trace receiver    grpc://{cluster.address('traces')}  (OTLP; recent spans at {cluster.spans_url}, "
        f"metrics at {cluster.metrics_url})"
    )
    print(f"  bedrock emulator  {cluster.url('bedrock_emulator')}")
    print("Press Ctrl-C to stop. A part that exits is restarted (with backoff); the rest keep serving.", flush=True)
    # Restarts are logged as they happen; the supervisor polls on this thread until Ctrl-C / SIGTERM.
    Supervisor(cluster).run(stop)
    print("stopping...", flush=True)
    codes = cluster.stop()
    print("stopped: " + ", ".join(f"{n}={c}" for n, c in codes.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
