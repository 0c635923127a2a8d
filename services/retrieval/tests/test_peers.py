"""Replicas that agree: two retrieval apps in process, each following the other's change feed over
real gRPC (ephemeral ports, the hashing embedder: no model). A stock change made on either is
read back through both, a change no newer than what a replica holds is ignored, and a replica
that starts after changes were made catches up before it serves."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from mangaassist.common.grpc_client import health_status, open_channel
from mangaassist.common.grpc_server import GrpcApp
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.server import build_app

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


QUERY = "Blue Lock volume 20"


class Replica:
    def __init__(self, port: int, peers: list[int], index_dir: Path) -> None:
        settings = RetrievalSettings(
            port=port,
            drain_grace_s=0.5,
            embedder="hashing",
            index_dir=index_dir,
            peers=[f"127.0.0.1:{p}" for p in peers],
            cache_entries=64,
            peer_catch_up_s=30.0,
        )  # a loaded box must not make it serve early
        self.port = port
        self.app: GrpcApp = build_app(settings, TracerProvider().get_tracer("test"))
        self.task = asyncio.create_task(self.app.run())
        self.channel = open_channel(f"127.0.0.1:{port}")
        self.stub = retrieval_pb2_grpc.RetrievalServiceStub(self.channel)

    async def serving(self) -> None:
        for _ in range(600):
            if await health_status(self.channel, "", 1.0) == "SERVING":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the replica did not start")

    async def top(self) -> tuple[str, bool]:
        reply = await self.stub.Search(
            retrieval_pb2.SearchRequest(
                query=QUERY, k=1, fields=["asin", "in_stock"], filters=common_pb2.SearchFilters(language="en")
            ),
            timeout=5,
        )
        return reply.results[0].product.asin, reply.results[0].product.in_stock

    async def in_stock(self, asin: str) -> bool | None:
        reply = await self.stub.Search(
            retrieval_pb2.SearchRequest(
                query=QUERY, k=3, fields=["asin", "in_stock"], filters=common_pb2.SearchFilters(language="en")
            ),
            timeout=5,
        )
        return {h.product.asin: h.product.in_stock for h in reply.results}.get(asin)

    async def set_stock(self, asin: str, count: int) -> None:
        await self.stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=count), timeout=5)

    async def stop(self) -> None:
        self.app.request_stop()
        await self.task
        await self.channel.close()


async def eventually(replica: Replica, asin: str, expected: bool, what: str) -> None:
    """Polls (20 s at most: a generous bound, not a goal) until ``replica`` answers ``expected``."""
    for _ in range(2000):
        if await replica.in_stock(asin) is expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Replica, Replica, int]]:
    """Replicas a and b, each following the other and a third port where nothing runs yet."""
    ports = [free_port(), free_port(), free_port()]
    a = Replica(ports[0], [ports[1], ports[2]], tmp_path)
    await a.serving()  # builds and saves the index the others load
    b = Replica(ports[1], [ports[0], ports[2]], tmp_path)
    await b.serving()
    yield a, b, ports[2]
    await b.stop()
    await a.stop()


async def test_a_stock_change_on_either_replica_is_read_back_through_both(pair: tuple[Replica, Replica, int]) -> None:
    a, b, _ = pair
    asin, _ = await a.top()
    for origin, count in ((a, 0), (b, 8), (a, 0), (b, 3)):
        await origin.set_stock(asin, count)
        for replica in (a, b):
            await eventually(replica, asin, count > 0, f"a replica kept the old stock after {count}")


async def test_a_replica_that_starts_later_catches_up_before_it_serves(
    pair: tuple[Replica, Replica, int], tmp_path: Path
) -> None:
    a, b, third_port = pair
    asin, was = await a.top()
    await b.set_stock(asin, 0 if was else 2)
    await eventually(a, asin, not was, "a did not follow b")
    late = Replica(third_port, [a.port, b.port], tmp_path)  # loads the catalog's stock from disk...
    try:
        await late.serving()
        assert await late.in_stock(asin) is (not was)  # ...and has caught up before its first answer
        # The late one's own changes reach the others too (a and b follow its port).
        await late.set_stock(asin, 5 if was else 0)
        await eventually(a, asin, was, "a did not follow the late replica")
        await eventually(b, asin, was, "b did not follow the late replica")
    finally:
        await late.stop()
