"""The OpenSearch k-NN backend at the HTTP level: the real client against a local server.

The backend's own code path runs unchanged — ``AsyncOpenSearch`` over its aiohttp
connection pool, SigV4-signed by ``AWSV4SignerAsyncAuth`` with botocore — against
``fake_opensearch.FakeOpenSearch`` (a test double) on an ephemeral port, which checks each
request and answers with OpenSearch-shaped bodies. The servicer runs in a real gRPC server
(``build_app``) so error statuses, deadlines and span attributes are what a caller sees.
No AWS, no OpenSearch server: what a real domain does with these requests is not verified.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mangaassist.common.grpc_client import health_status, open_channel
from mangaassist.proto.common.v1 import common_pb2
from mangaassist.proto.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import CatalogIndex, catalog_vectors, edition_rows
from mangaassist.retrieval.opensearch import (
    OpenSearchConfig,
    OpenSearchError,
    OpenSearchStore,
    filter_clauses,
    index_body,
    ingest,
    make_client,
    to_cosine,
)
from mangaassist.retrieval.server import build_app
from mangaassist.retrieval.service import RetrievalServicer
from mangaassist.retrieval.store import FilterColumns, Filters, PlannedStore, RowMap
from services.retrieval.tests.fake_opensearch import FakeOpenSearch, fake_aws_credentials, running, tasks_on_one_index

pytestmark = pytest.mark.integration

FILTERS = [
    Filters(),
    Filters(language="ja"),
    Filters(in_stock=True, max_price_jpy=600),
    Filters(genres=frozenset({"horror"}), language="en"),
    Filters(in_stock=False),
    Filters(demographic="josei", min_price_jpy=500),
]
QUERIES = ["dark fantasy", "呪術廻戦", "Blue Lock volume 20", "cooking", "ホラー漫画"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Product], np.ndarray, Path]:
    folder = tmp_path_factory.mktemp("os-index")
    products, vectors = catalog_vectors(RetrievalSettings().catalog_path, make_embedder("hashing"), folder)
    return products, vectors, folder


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_credentials(monkeypatch)
    # The service signs for AWS_REGION, like every service (the settings base's one default).
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("MANGAASSIST_RETRIEVAL_AWS_REGION", raising=False)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeOpenSearch, str]]:
    server = FakeOpenSearch()
    async with running(server) as url:
        yield server, url


def assert_signed(request: dict[str, Any], service: str = "aoss") -> None:
    auth = request["headers"]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLETEST/")
    assert f"/us-east-1/{service}/aws4_request" in auth
    assert "x-amz-content-sha256" in auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert request["headers"]["X-Amz-Date"] and request["headers"]["X-Amz-Content-SHA256"]


def test_filters_become_clauses_with_the_embedded_meaning() -> None:
    assert filter_clauses(Filters()) == []
    assert filter_clauses(
        Filters(genres=frozenset({"horror", "drama"}), language="en", in_stock=True, max_price_jpy=600)
    ) == [
        {"terms": {"genres": ["drama", "horror"]}},
        {"term": {"language": "en"}},
        {"range": {"price_in_stock": {"lte": 600}}},
    ]
    assert filter_clauses(Filters(in_stock=False)) == [{"exists": {"field": "price_sold_out"}}]
    assert filter_clauses(Filters(min_price_jpy=500, demographic="josei")) == [
        {"term": {"demographic": "josei"}},
        {"range": {"price_jpy": {"gte": 500}}},
    ]
    for cos in (-0.7, -0.1, 0.0, 0.3, 0.99):
        ip_score = cos + 1 if cos >= 0 else 1 / (1 - cos)
        assert to_cosine(ip_score, "innerproduct") == pytest.approx(cos)
        assert to_cosine((1 + cos) / 2, "cosinesimil") == pytest.approx(cos)
    with pytest.raises(ValueError, match="routing key"):
        OpenSearchConfig(url="https://x.example", routing_key="genres")
    with pytest.raises(ValueError, match="http"):
        OpenSearchConfig(url="x.example")


def test_sigv4_without_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ValueError, match="needs AWS credentials"):
        make_client(OpenSearchConfig(url="https://collection.us-east-1.aoss.amazonaws.com"))


async def test_ingest_then_knn_search_signed_pooled_and_equal_to_exact(
    catalog: tuple[list[Product], np.ndarray, Path], fake: tuple[FakeOpenSearch, str], aws: None
) -> None:
    products, vectors, _ = catalog
    server, url = fake
    config = OpenSearchConfig(url=url, routing_key="language")
    doc_rows, _ = edition_rows(products)
    rowmap = RowMap(doc_rows)
    client = make_client(config)
    store = OpenSearchStore(client, config, products, FilterColumns.from_products(products), doc_rows)
    try:
        assert await ingest(client, config, products, rowmap, vectors) == rowmap.n_rows
        # Serverless: a second ingest recreates the index instead of duplicating rows (no caller ids).
        assert await ingest(client, config, products, rowmap, vectors) == rowmap.n_rows
        index = server.indices["manga-catalog"]
        assert index["body"] == index_body(vectors.shape[1], config)
        mapping = index["body"]["mappings"]["properties"]["embedding"]
        assert mapping["type"] == "knn_vector" and mapping["dimension"] == vectors.shape[1]
        assert mapping["method"] == {
            "name": "hnsw",
            "engine": "faiss",
            "space_type": "innerproduct",
            "parameters": {"m": 32, "ef_construction": 256},
        }
        assert len(index["docs"]) == rowmap.n_rows
        bulk = [r for r in server.requests if r["path"] == "/_bulk"]
        actions = [json.loads(line) for r in bulk for line in r["raw"].decode().splitlines()][::2]
        assert len(actions) == 2 * rowmap.n_rows and all("_id" not in a["index"] for a in actions)
        assert {a["index"]["routing"] for a in actions} == {"ja", "en"}
        calls = [f"{r['method']} {r['path']}" for r in server.requests]
        chunks = -(-rowmap.n_rows // 500)
        once = ["HEAD /manga-catalog", "PUT /manga-catalog", *["POST /_bulk"] * chunks]
        assert calls == [*once[:2], *once[2:], "HEAD /manga-catalog", "DELETE /manga-catalog", *once[1:]]
        for sent in server.requests:
            assert_signed(sent)

        exact = PlannedStore(FilterColumns.from_products(products), vectors, doc_rows)
        embedder = make_embedder("hashing")
        server.requests.clear()
        server.peers.clear()
        for f in FILTERS:
            for q in QUERIES:
                v = embedder.embed_query(q)
                got = await store.asearch(v, 10, f)
                want = exact.search(v, 10, f)
                assert [r for r, _ in got.hits] == [r for r, _ in want.hits], (q, f)
                assert np.allclose([s for _, s in got.hits], [s for _, s in want.hits], atol=1e-5)
                # The pre-count leaves stock to the index (this task's copy may be behind it).
                unstocked = exact.search(v, 10, replace(f, in_stock=None)).candidates
                assert got.candidates == unstocked and got.plan == "opensearch-knn"
                assert got.partition == ("*" if f.language is None else f"language={f.language}")
        searches = server.searches()
        assert len(searches) == len(FILTERS) * len(QUERIES)
        for sent in searches:
            assert_signed(sent)
            assert sent["method"] == "POST" and sent["path"] == "/manga-catalog/_search"
        body = searches[len(QUERIES) * 2]["body"]  # in stock, ≤ ¥600
        assert body["size"] == 10 and body["_source"] == {"includes": ["edition_key", "stock"]}
        knn = body["query"]["knn"]["embedding"]
        assert knn["k"] == 10 and len(knn["vector"]) == vectors.shape[1]
        assert knn["filter"] == {"bool": {"filter": [{"range": {"price_in_stock": {"lte": 600}}}]}}
        assert "filter" not in searches[0]["body"]["query"]["knn"]["embedding"]
        assert "routing" not in searches[0]["query"]
        assert searches[len(QUERIES)]["query"]["routing"] == "ja"  # routed to the partition's shard
        assert len(server.peers) == 1  # every search, sequential, on one kept-alive connection

        # Concurrent queries share the pool: never more than pool_size (20) connections.
        server.mode, server.slow_s = "slow", 0.05
        v = embedder.embed_query("dark fantasy")
        await asyncio.gather(*(store.asearch(v, 5, Filters()) for _ in range(40)))
        assert 1 < len(server.peers) <= 20

        # A hybrid search through the index: the named volume first, as with the embedded store.
        server.mode = "ok"
        catalog_index = CatalogIndex(products, vectors, embedder, store=store)
        outcome = await catalog_index.asearch(
            "Blue Lock volume 20", embedder.embed_query("Blue Lock volume 20"), 5, Filters(language="en")
        )
        top = products[outcome.hits[0].doc]
        assert (top["title"], top["volume_number"]) == ("Blue Lock", 20) and outcome.partition == "language=en"
    finally:
        await store.aclose()


async def test_errors_deadlines_spans_and_stock_over_grpc(
    catalog: tuple[list[Product], np.ndarray, Path], fake: tuple[FakeOpenSearch, str], aws: None
) -> None:
    products, vectors, folder = catalog
    server, url = fake
    doc_rows, _ = edition_rows(products)
    settings = RetrievalSettings(
        port=0,
        drain_grace_s=0.5,
        store="opensearch",
        opensearch_endpoint=url,
        embedder="hashing",
        index_dir=folder,
        partition_by="language",
        opensearch_timeout_s=0.5,
        opensearch_stock_poll_s=0,  # the requests below are the test's own
        cache_entries=0,
    )
    loader = make_client(settings.opensearch_config())
    try:
        await ingest(loader, settings.opensearch_config(), products, RowMap(doc_rows), vectors)
    finally:
        await loader.close()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = build_app(settings, provider.get_tracer("test"))
    task = asyncio.create_task(app.run())
    channel = open_channel(f"127.0.0.1:{app.port}")
    try:
        for _ in range(200):
            if await health_status(channel, "", 1.0) == "SERVING":
                break
            await asyncio.sleep(0.05)
        stub = retrieval_pb2_grpc.RetrievalServiceStub(channel)
        request = retrieval_pb2.SearchRequest(
            query="Blue Lock volume 20",
            k=3,
            fields=["asin", "title", "in_stock"],
            filters=common_pb2.SearchFilters(language="en", in_stock=True),
        )
        reply = await stub.Search(request, timeout=5)
        assert reply.plan == "opensearch-knn" and reply.results[0].product.title == "Blue Lock"
        span = next(s for s in exporter.get_finished_spans() if s.name == "vector-search")
        assert span.attributes is not None
        assert span.attributes["retrieval.plan"] == "opensearch-knn"
        assert span.attributes["retrieval.partition"] == "language=en"

        # A stock change reaches the index: Serverless assigns ids, so the row is found, then updated.
        asin = reply.results[0].product.asin
        server.requests.clear()
        await stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=0), timeout=5)
        lookup, update = server.requests
        edition = next(p["edition_key"] for p in products if p["asin"] == asin)
        assert lookup["body"]["query"] == {"term": {"edition_key": edition}}
        assert update["method"] == "POST" and update["path"].startswith("/manga-catalog/_update/auto-")
        assert update["query"]["routing"] == "en" and set(update["body"]["doc"]) == {
            "price_jpy",
            "price_in_stock",
            "price_sold_out",
            "stock",
            "stock_version",
        }
        assert_signed(lookup)
        assert_signed(update)
        # Refused (e.g. a data-access policy without WriteDocument): a clear status, and the row
        # stays pending — the next stock change, of another edition, sends both rows.
        server.mode = "forbidden"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=4), timeout=5)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        server.mode = "ok"
        server.requests.clear()
        other = next(p for p in products if p["edition_key"] != edition)
        await stub.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=other["asin"], stock_count=0), timeout=5)
        lookups = [r["body"]["query"]["term"]["edition_key"] for r in server.requests if "_search" in r["path"]]
        updates = [r for r in server.requests if "/_update/" in r["path"]]
        assert sorted(lookups) == sorted([edition, other["edition_key"]]) and len(updates) == 2
        refused_row = next(u for u, key in zip(updates, lookups, strict=True) if key == edition)
        assert refused_row["body"]["doc"]["price_in_stock"]  # the re-sent row carries the later stock (4 > 0)

        cases = [
            ("throttle", grpc.StatusCode.RESOURCE_EXHAUSTED, "throttling", 2),
            ("unavailable", grpc.StatusCode.UNAVAILABLE, "503", 2),
            ("slow", grpc.StatusCode.DEADLINE_EXCEEDED, "did not answer in time", 1),
            ("missing", grpc.StatusCode.FAILED_PRECONDITION, "run the ingest", 1),
            ("forbidden", grpc.StatusCode.FAILED_PRECONDITION, "data access policy", 1),
        ]
        for mode, code, words, attempts in cases:
            server.mode = mode
            server.requests.clear()
            t0 = time.perf_counter()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Search(request, timeout=5)
            assert err.value.code() == code and words in (err.value.details() or ""), mode
            assert len(server.searches()) == attempts, mode  # 429 / 503 retried once, the rest not
            if mode == "slow":
                assert time.perf_counter() - t0 < 2.0  # the 0.5 s OpenSearch timeout, not the 2 s reply

        # The caller's own deadline, shorter than the OpenSearch timeout, is honoured too.
        server.mode, server.slow_s = "slow", 3.0
        t0 = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Search(request, timeout=0.3)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and time.perf_counter() - t0 < 1.5
        server.mode = "throttle_once"  # a single 429 is absorbed by the retry
        assert (await stub.Search(request, timeout=5)).results[0].product.title == "Blue Lock"
    finally:
        app.request_stop()
        await task
        await channel.close()


async def test_unreachable_endpoint_is_unavailable() -> None:
    """Nothing listening (connection refused): ``unavailable`` (→ gRPC UNAVAILABLE), after the one retry."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = OpenSearchConfig(url=f"http://127.0.0.1:{port}", auth="none", timeout_s=2.0)
    products = [
        {
            "edition_key": "e:ja",
            "language": "ja",
            "demographic": "shonen",
            "price_jpy": 500,
            "in_stock": True,
            "genres": ["action"],
        }
    ]
    store = OpenSearchStore(
        make_client(config), config, products, FilterColumns.from_products(products), np.zeros(1, dtype=np.int64)
    )
    try:
        with pytest.raises(OpenSearchError) as err:
            await store.asearch(np.ones(4, dtype=np.float32) / 2, 1, Filters())
        assert err.value.kind == "unavailable" and "cannot reach" in str(err.value)
    finally:
        await store.aclose()


async def test_tasks_sharing_the_index_show_and_announce_each_others_stock_changes(
    catalog: tuple[list[Product], np.ndarray, Path], fake: tuple[FakeOpenSearch, str], aws: None
) -> None:
    """Two retrieval tasks (each its own copy of the catalog) on one index, as in AWS: a stock
    change taken by one is what the other's results show (from the hits' ``_source``), its
    in-stock filter is decided by the index (not its stale copy), its poll of the index takes
    the change and announces it on its change feed (which its orchestrators follow), and a
    change of another volume of the same edition keeps the first one."""
    products, vectors, _ = catalog
    server, url = fake
    doc_rows, _ = edition_rows(products)
    # No result cache: a task's cached results take another task's change at its next poll.
    tasks = await tasks_on_one_index(OpenSearchConfig(url=url, routing_key="language"), products, vectors)
    (a, _), (b, store_b) = tasks
    query = "Blue Lock volume 20"
    filters = common_pb2.SearchFilters(language="en")

    async def shown(servicer: RetrievalServicer, in_stock: bool | None = None) -> dict[str, bool]:
        f = common_pb2.SearchFilters()
        f.CopyFrom(filters)
        if in_stock is not None:
            f.in_stock = in_stock
        request = retrieval_pb2.SearchRequest(query=query, k=3, fields=["asin", "in_stock"], filters=f)
        reply = await servicer.Search(request, None)  # type: ignore[arg-type]
        return {r.product.asin: r.product.in_stock for r in reply.results}

    async def announced(servicer: RetrievalServicer, after: int) -> tuple[str, ...]:
        feed = servicer.changes.follow(servicer.changes.epoch, after)
        await anext(feed)  # the cursor
        return (await asyncio.wait_for(anext(feed), 5)).asins

    try:
        asin = next(iter(await shown(b)))
        assert (await shown(b))[asin] is True
        seq = b.changes.seq
        await a.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=0), None)  # type: ignore[arg-type]
        # b's search takes the hit's stock from the index, and its feed says so.
        assert (await shown(b))[asin] is False
        assert await announced(b, seq) == (asin,)
        assert asin not in await shown(b, in_stock=True)

        # Restocked on a: b's copy says sold out, but its in-stock search asks the index and finds it.
        await a.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=asin, stock_count=5), None)  # type: ignore[arg-type]
        assert (await shown(b, in_stock=True)).get(asin) is True

        # A change b's searches never showed reaches b's copy and feed through its poll of the index.
        other = next(p for p in products if p["language"] == "ja" and p["in_stock"])
        seq = b.changes.seq
        await a.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=other["asin"], stock_count=0), None)  # type: ignore[arg-type]
        assert await store_b.poll_stock() == [other["asin"]]
        assert await announced(b, seq) == (other["asin"],)
        assert next(p for p in store_b.products if p["asin"] == other["asin"])["in_stock"] is False
        assert await store_b.poll_stock() == []  # nothing new: the poll changes nothing

        # b changes another volume of the same edition from its copy: a's change is kept.
        sibling = next(p for p in products if p["edition_key"] == other["edition_key"] and p["asin"] != other["asin"])
        await b.UpdateStock(retrieval_pb2.UpdateStockRequest(asin=sibling["asin"], stock_count=0), None)  # type: ignore[arg-type]
        row = next(
            d for _, d in server.indices["manga-catalog"]["docs"].values() if d["edition_key"] == other["edition_key"]
        )
        first = int(np.flatnonzero(doc_rows == doc_rows[products.index(other)])[0])
        assert row["stock"][products.index(other) - first] == 0 and row["stock"][products.index(sibling) - first] == 0
    finally:
        for _, store in tasks:
            await store.aclose()
