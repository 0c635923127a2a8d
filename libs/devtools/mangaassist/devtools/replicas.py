"""Drills for ``make up REPLICAS=2``: does a stock change reach every replica, and does the chat
keep answering while one replica of each service goes away?

Shared by the end-to-end test (which asserts what a customer would notice) and
``bench/replica_drill.py`` (which measures how long and how often, and writes a results file).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from websockets.asyncio.client import connect

from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.supervisor import Supervisor
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc

QUESTION = "おすすめの少年マンガを教えて"


def search(address: str, query: str, in_stock: bool | None = None) -> dict[str, bool]:
    """asin → in_stock of the hits (English editions) one replica returns for ``query``."""
    filters = common_pb2.SearchFilters(language="en")
    if in_stock is not None:
        filters.in_stock = in_stock
    with grpc.insecure_channel(address) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        reply = stub.Search(
            retrieval_pb2.SearchRequest(query=query, k=3, fields=["asin", "in_stock"], filters=filters), timeout=10
        )
    return {hit.product.asin: hit.product.in_stock for hit in reply.results}


def update_stock(address: str, asin: str, count: int) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=count), timeout=10)


def wait_until(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.005) -> float | None:
    """Seconds until ``check()`` held (polled), or None if it did not within ``timeout_s``."""
    started = time.perf_counter()
    while True:
        if check():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout_s:
            return None
        time.sleep(poll_s)


def stock_propagation(cluster: Cluster, query: str, trials: int, timeout_s: float = 10.0) -> list[float | None]:
    """Change one volume's stock on each retrieval replica in turn; seconds until every other
    replica answers with it (None: not within ``timeout_s``). The volume's stock is put back."""
    replicas = cluster.replica_names("retrieval")
    asin, original = next(iter(search(cluster.address(replicas[0]), query).items()))
    seconds: list[float | None] = []
    try:
        for n in range(trials):
            origin = replicas[n % len(replicas)]
            want = n % 2 == 0  # alternate sold out / in stock so every trial is a change
            want = want != original
            started = time.perf_counter()
            update_stock(cluster.address(origin), asin, 6 if want else 0)
            for name in replicas:

                def seen(address: str = cluster.address(name), want: bool = want) -> bool:
                    return search(address, query).get(asin) is want

                if wait_until(seen, timeout_s) is None:
                    seconds.append(None)
                    break
            else:
                seconds.append(time.perf_counter() - started)
    finally:
        update_stock(cluster.address(replicas[0]), asin, 6 if original else 0)
    return seconds


def _socket_inode(local_port: int) -> str | None:
    """The inode of the IPv4 TCP socket bound to 127.0.0.1:``local_port`` (Linux /proc)."""
    wanted = f"0100007F:{local_port:04X}"
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted:
                return fields[9]
    return None


def owner_of(local_port: int, names: Sequence[str], cluster: Cluster) -> str | None:
    """Which of ``names`` (processes of ``cluster``) holds the TCP connection from ``local_port``."""
    inode = _socket_inode(local_port)
    if inode is None:
        return None
    for name in names:
        fd_dir = f"/proc/{cluster.procs[name].pid}/fd"
        try:
            links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:  # the process is gone
            continue
        if f"socket:[{inode}]" in links:
            return name
    return None


def streaming_replica(cluster: Cluster, emulator_stats: dict[str, Any]) -> str | None:
    """The inference replica whose model stream the emulator is writing now, if exactly one is."""
    ports = {s["port"] for s in emulator_stats.get("active_streams", [])}
    owners = {owner_of(port, cluster.replica_names("inference"), cluster) for port in ports}
    owners.discard(None)
    return owners.pop() if len(owners) == 1 else None


@dataclass
class DrillResult:
    signal: str
    victims: list[str]
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # every terminal frame, in order
    latencies_ms: list[float] = field(default_factory=list)
    restarted_after_s: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> list[dict[str, Any]]:
        """Questions answered in full by the model (no error, no fallback reply)."""
        return [o for o in self.outcomes if o["type"] == "done" and not o.get("fallbacks") and o.get("model") != "none"]

    @property
    def resumed(self) -> int:
        """Answers whose stream broke mid-way and was continued on another replica."""
        return sum(1 for o in self.outcomes if o["type"] == "done" and o.get("resumed"))

    @property
    def errors(self) -> dict[str, int]:
        codes: dict[str, int] = {}
        for o in self.outcomes:
            if o["type"] != "done":
                codes[o["code"]] = codes.get(o["code"], 0) + 1
        return codes


async def ask_while_killing(
    cluster: Cluster,
    supervisor: Supervisor,
    victims: Sequence[str],
    sig: signal.Signals,
    customers: int = 4,
    gap_s: float = 1.0,
    timeout_s: float = 120.0,
) -> DrillResult:
    """``customers`` WebSocket clients ask questions back to back while each victim gets ``sig``
    (``gap_s`` apart), until the supervisor has every victim serving again (and ``gap_s`` more)."""
    result = DrillResult(sig.name, list(victims))
    restarts = {name: supervisor.parts[name].restarts for name in victims}
    stop = asyncio.Event()

    async def customer(c: int) -> None:
        async with connect(cluster.ws_url, compression=None) as ws:
            n = 0
            while not stop.is_set():
                request_id = f"drill-{c}-{n}"
                started = time.perf_counter()
                await ws.send(
                    json.dumps(
                        {"type": "query", "request_id": request_id, "text": f"{QUESTION} ({c}-{n})"}, ensure_ascii=False
                    )
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame.get("request_id") == request_id and frame["type"] in ("done", "error"):
                        break
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.outcomes.append(frame)
                n += 1

    def back(name: str) -> bool:
        return supervisor.parts[name].restarts > restarts[name] and cluster.is_serving(name)

    tasks = [asyncio.create_task(customer(c)) for c in range(customers)]
    try:
        await asyncio.sleep(gap_s)
        killed_at: dict[str, float] = {}
        for name in victims:
            os.kill(cluster.procs[name].pid, sig)
            killed_at[name] = time.monotonic()
            await asyncio.sleep(gap_s)
        deadline = time.monotonic() + timeout_s
        while len(result.restarted_after_s) < len(victims):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"not serving again after {timeout_s:.0f} s: {sorted(set(victims) - set(result.restarted_after_s))}"
                )
            for name in victims:
                if name not in result.restarted_after_s and await asyncio.to_thread(back, name):
                    result.restarted_after_s[name] = time.monotonic() - killed_at[name]
            await asyncio.sleep(0.1)
        await asyncio.sleep(gap_s)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result
