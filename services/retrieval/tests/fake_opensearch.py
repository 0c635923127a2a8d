"""Test double: a local HTTP server speaking the slice of the OpenSearch REST API the backend uses.

No OpenSearch server runs on these machines, so the backend's real client (``AsyncOpenSearch``
over aiohttp, SigV4-signed) talks to this aiohttp app on an ephemeral port. It records every
request (method, path, query, headers, body, client peer) for the tests to check, keeps the
documents it is sent through ``_bulk``, and answers ``knn`` searches by exact scoring over
them with the filter clauses the backend sends (term / terms / range / exists, any value of
an array field matching; a plain query of one such clause, sorted by a field if asked) — with the response shapes OpenSearch documents (``hits.hits[]``
with ``_id`` / ``_score`` / ``_source`` filtered by ``_source.includes``, bulk ``items``,
error bodies ``{"error": {"type", "reason"}, "status"}``). ``mode`` injects failures.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from mangaassist.devtools.http_stub import serve
from mangaassist.retrieval.catalog import Product
from mangaassist.retrieval.embedder import make_embedder
from mangaassist.retrieval.engine import CatalogIndex, edition_rows
from mangaassist.retrieval.opensearch import OpenSearchConfig, OpenSearchStore, ingest, make_client
from mangaassist.retrieval.service import RetrievalServicer
from mangaassist.retrieval.store import FilterColumns, RowMap


def _error(status: int, kind: str, reason: str) -> web.Response:
    return web.json_response(
        {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status},
        status=status,
    )


def _matches(doc: dict[str, Any], clause: dict[str, Any]) -> bool:
    ((kind, spec),) = clause.items()
    if kind == "bool":
        return all(_matches(doc, c) for c in spec.get("filter", []))
    if kind == "exists":
        value = doc.get(spec["field"])
        return value not in (None, [])
    ((name, want),) = spec.items()
    values = doc.get(name)
    values = values if isinstance(values, list) else [values]
    if kind == "term":
        return want in values
    if kind == "terms":
        return any(v in want for v in values)
    if kind == "range":
        return any(
            (want.get("gte") is None or v >= want["gte"])
            and (want.get("lte") is None or v <= want["lte"])
            and (want.get("gt") is None or v > want["gt"])
            for v in values
            if v is not None
        )
    raise ValueError(f"unsupported clause {kind}")


def _score(ip: float) -> float:
    """faiss innerproduct score as OpenSearch reports it."""
    return ip + 1.0 if ip >= 0 else 1.0 / (1.0 - ip)


@dataclass
class FakeOpenSearch:
    mode: str = "ok"  # ok | throttle | throttle_once | unavailable | slow | missing | forbidden
    slow_s: float = 2.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    indices: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # name -> {"body": ..., "docs": {id: (routing, doc)}}
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def searches(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/_search")]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw and request.path != "/_bulk":
            body = json.loads(raw)
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
                "raw": raw,
            }
        )
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        if self.mode in ("throttle", "throttle_once"):
            if self.mode == "throttle_once":
                self.mode = "ok"
            return _error(429, "too_many_requests", "rejected execution of the search")
        if self.mode == "unavailable":
            return _error(503, "unavailable_shards_exception", "no shard available")
        if self.mode == "forbidden":
            return web.json_response(
                {"message": "User does not have permissions for the requested resource"}, status=403
            )
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        parts = [p for p in request.path.split("/") if p]
        if request.path == "/_bulk":
            return self._bulk(raw)
        name = parts[0]
        if self.mode == "missing" or (name not in self.indices and not (request.method == "PUT" and len(parts) == 1)):
            if request.method == "HEAD":
                return web.Response(status=404)
            return _error(404, "index_not_found_exception", f"no such index [{name}]")
        if len(parts) == 1:
            if request.method == "HEAD":
                return web.Response(status=200)
            if request.method == "PUT":
                self.indices[name] = {"body": body, "docs": {}}
                return web.json_response({"acknowledged": True, "shards_acknowledged": True, "index": name})
            if request.method == "DELETE":
                del self.indices[name]
                return web.json_response({"acknowledged": True})
        if parts[1] == "_search":
            return self._search(name, body, request.query.get("routing"))
        if parts[1] == "_update":
            docs = self.indices[name]["docs"]
            if parts[2] not in docs:
                return _error(404, "document_missing_exception", f"[{parts[2]}]: document missing")
            docs[parts[2]][1].update(body["doc"])
            return web.json_response(
                {
                    "_index": name,
                    "_id": parts[2],
                    "_version": 2,
                    "result": "updated",
                    "_shards": {"total": 2, "successful": 2, "failed": 0},
                }
            )
        return _error(400, "illegal_argument_exception", f"unsupported {request.method} {request.path}")

    def _bulk(self, raw: bytes) -> web.Response:
        lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        items = []
        for action, doc in zip(lines[::2], lines[1::2], strict=True):
            meta = action["index"]
            index = self.indices[meta["_index"]]
            doc_id = meta.get("_id") or f"auto-{next(self._ids)}"
            index["docs"][doc_id] = (meta.get("routing", meta.get("_routing")), doc)
            items.append(
                {"index": {"_index": meta["_index"], "_id": doc_id, "_version": 1, "result": "created", "status": 201}}
            )
        return web.json_response({"took": 3, "errors": False, "items": items})

    def _search(self, name: str, body: dict[str, Any], routing: str | None) -> web.Response:
        docs = self.indices[name]["docs"]
        query = body["query"]
        includes = (body.get("_source") or {}).get("includes") if body.get("_source") is not False else []
        if "knn" not in query:
            found = [
                (doc_id, 1.0)
                for doc_id, (r, d) in docs.items()
                if _matches(d, query) and (routing is None or r == routing)
            ]
            for order in reversed(body.get("sort", [])):
                ((name, direction),) = order.items()
                found.sort(key=lambda x: docs[x[0]][1].get(name, 0), reverse=direction == "desc")
        else:
            ((vector_field, knn),) = query["knn"].items()
            q = np.asarray(knn["vector"], dtype=np.float64)
            found = []
            for doc_id, (r, d) in docs.items():
                if routing is not None and r != routing:
                    continue
                if "filter" in knn and not _matches(d, knn["filter"]):
                    continue
                found.append((doc_id, _score(float(np.dot(q, d[vector_field])))))
            found.sort(key=lambda x: -x[1])
            found = found[: knn["k"]]
        found = found[: body.get("size", 10)]
        hits = []
        for doc_id, score in found:
            source = docs[doc_id][1]
            hit: dict[str, Any] = {"_index": name, "_id": doc_id, "_score": score}
            if includes is None:
                hit["_source"] = source
            elif includes:
                hit["_source"] = {k: v for k, v in source.items() if k in includes}
            hits.append(hit)
        return web.json_response(
            {
                "took": 4,
                "timed_out": False,
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                "hits": {
                    "total": {"value": len(hits), "relation": "eq"},
                    "max_score": hits[0]["_score"] if hits else None,
                    "hits": hits,
                },
            }
        )


@asynccontextmanager
async def running(fake: FakeOpenSearch) -> AsyncIterator[str]:
    """Serve ``fake`` on an ephemeral 127.0.0.1 port; yields its base URL."""
    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    async with serve(app) as url:
        yield url


def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Placeholder credentials so SigV4 signing runs; nothing leaves 127.0.0.1."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-test-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


async def tasks_on_one_index(
    config: OpenSearchConfig, products: list[Product], vectors: np.ndarray, cache_entries: int = 0
) -> list[tuple[RetrievalServicer, OpenSearchStore]]:
    """Two retrieval tasks as in AWS: the catalog ingested once into ``config``'s index, and
    each task with its own copy of the catalog (and, by default, no result cache)."""
    doc_rows, _ = edition_rows(products)
    loader = make_client(config)
    try:
        await ingest(loader, config, products, RowMap(doc_rows), vectors)
    finally:
        await loader.close()
    tasks: list[tuple[RetrievalServicer, OpenSearchStore]] = []
    for _ in range(2):
        own = copy.deepcopy(products)
        store = OpenSearchStore(make_client(config), config, own, FilterColumns.from_products(own), doc_rows)
        servicer = RetrievalServicer(5, 50, 500, cache_entries=cache_entries)
        servicer.ready(CatalogIndex(own, vectors, make_embedder("hashing"), store=store))
        tasks.append((servicer, store))
    return tasks
