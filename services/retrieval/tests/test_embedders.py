"""Embedders: the hashing one (tests only) and Titan v2 through aioboto3 against a local HTTP server.

The Titan test runs the real aioboto3/botocore request path (SigV4 signing, the Bedrock
runtime REST shape, connection pooling, retries, timeouts) against a local aiohttp server
on an ephemeral port that checks each request and answers like Bedrock does. No AWS.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from mangaassist.devtools.http_stub import serve
from mangaassist.retrieval.embedder import EmbeddingError, HashingEmbedder, TitanEmbedder, make_embedder

pytestmark = pytest.mark.integration


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    e = HashingEmbedder(dim=128)
    a, b = e.embed_query("Blue Lock"), e.embed_passages(["Blue Lock", "ベルセルク"])
    assert np.array_equal(a, b[0]) and np.isclose(np.linalg.norm(a), 1.0)
    assert float(a @ e.embed_query("blue lock vol 2")) > float(a @ b[1])
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")


@dataclass
class FakeBedrock:
    """Local stand-in for the Bedrock runtime endpoint (test double)."""

    mode: str = "ok"  # ok | throttle | slow | short
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)

    async def invoke(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.requests.append({"path": request.raw_path, "headers": dict(request.headers), "body": body})
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        if self.mode == "throttle":
            return web.json_response(
                {"message": "Too many requests"}, status=429, headers={"x-amzn-ErrorType": "ThrottlingException"}
            )
        if self.mode == "slow":
            await asyncio.sleep(1.5)
        dim = body["dimensions"] if self.mode != "short" else 3
        rng = np.random.default_rng(len(body["inputText"]))
        v = rng.normal(size=dim)
        return web.json_response({"embedding": (v / np.linalg.norm(v)).tolist(), "inputTextTokenCount": 4})


@pytest.fixture
async def bedrock(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeBedrock, str]]:
    # Placeholder credentials so SigV4 signing runs; nothing leaves 127.0.0.1.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLETEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fake = FakeBedrock()
    app = web.Application()
    app.router.add_post("/model/{model}/invoke", fake.invoke)
    async with serve(app) as url:
        yield fake, url


async def test_titan_signs_requests_reuses_the_connection_and_normalises(bedrock) -> None:  # type: ignore[no-untyped-def]
    fake, url = bedrock
    titan = TitanEmbedder(dim=256, region="us-east-1", endpoint_url=url, timeout_s=1.0)
    try:
        vectors = [await titan.aembed_query(q) for q in ("呪術廻戦の0巻", "Blue Lock volume 20", "dark fantasy")]
    finally:
        await titan.aclose()
    assert all(v.shape == (256,) and np.isclose(np.linalg.norm(v), 1.0) for v in vectors)
    assert len(fake.requests) == 3 and len(fake.peers) == 1  # one pooled connection for all queries
    for sent, text in zip(fake.requests, ("呪術廻戦の0巻", "Blue Lock volume 20", "dark fantasy"), strict=True):
        assert sent["path"] == "/model/amazon.titan-embed-text-v2%3A0/invoke"
        assert sent["body"] == {"inputText": text, "dimensions": 256, "normalize": True}
        auth = sent["headers"]["Authorization"]
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLETEST/")
        assert "/us-east-1/bedrock/aws4_request" in auth and "X-Amz-Date" in sent["headers"]


@pytest.mark.parametrize(("mode", "throttled"), [("throttle", True), ("slow", False), ("short", False)])
async def test_titan_failures_are_clear_errors(bedrock, mode: str, throttled: bool) -> None:  # type: ignore[no-untyped-def]
    fake, url = bedrock
    fake.mode = mode
    titan = TitanEmbedder(dim=256, endpoint_url=url, timeout_s=0.5)
    try:
        with pytest.raises(EmbeddingError) as err:
            await asyncio.wait_for(titan.aembed_query("x"), timeout=10)
    finally:
        await titan.aclose()
    assert err.value.throttled is throttled
    if mode == "throttle":
        assert len(fake.requests) == 2  # one retry (standard mode, max 2 attempts), then give up


def test_titan_rejects_unsupported_dimensions() -> None:
    with pytest.raises(ValueError, match="256, 512 or 1024"):
        TitanEmbedder(dim=384)
