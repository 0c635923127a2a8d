"""The servicer in process, on the real catalog with the hashing embedder (no model): errors → statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from mangaassist.common.errors import ServiceError
from mangaassist.proto.retrieval.v1 import retrieval_pb2
from mangaassist.retrieval.catalog import load_series
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.embedder import EmbeddingError, HashingEmbedder
from mangaassist.retrieval.engine import CatalogIndex, build_index, load_index, save_index
from mangaassist.retrieval.service import RetrievalServicer


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> CatalogIndex:
    return build_index(RetrievalSettings().catalog_path, HashingEmbedder(64), tmp_path_factory.mktemp("idx"))


class FailingEmbedder(HashingEmbedder):
    """Test double: an embedder whose backend refuses (as Bedrock does when throttling or down)."""

    def __init__(self, throttled: bool) -> None:
        super().__init__(64)
        self.throttled = throttled

    async def aembed_query(self, text: str) -> np.ndarray:
        raise EmbeddingError("backend said no", throttled=self.throttled)


@pytest.mark.parametrize(
    ("throttled", "code"), [(True, grpc.StatusCode.RESOURCE_EXHAUSTED), (False, grpc.StatusCode.UNAVAILABLE)]
)
async def test_embedding_failures_become_clear_statuses(
    index: CatalogIndex, throttled: bool, code: grpc.StatusCode
) -> None:
    failing = CatalogIndex(index.products, index.vectors, FailingEmbedder(throttled), None)
    servicer = RetrievalServicer(5, 100, 2000)
    servicer.ready(failing)
    context: Any = None
    with pytest.raises(ServiceError) as err:
        await servicer.Search(retrieval_pb2.SearchRequest(query="Berserk"), context)
    assert err.value.code == code


async def test_unready_service_is_unavailable() -> None:
    context: Any = None
    with pytest.raises(ServiceError) as err:
        await RetrievalServicer(5, 100, 2000).Search(retrieval_pb2.SearchRequest(query="x"), context)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_saved_index_loads_and_answers_the_same(index: CatalogIndex, tmp_path: Path) -> None:
    path = RetrievalSettings().catalog_path
    assert load_index(path, index.embedder, tmp_path) is None  # nothing saved yet
    save_index(index, path, tmp_path)
    loaded = load_index(path, index.embedder, tmp_path)
    assert loaded is not None and len(loaded.products) == len(index.products)
    assert (loaded.store.hnsw is None) == (index.store.hnsw is None)
    q = index.embedder.embed_query("Blue Lock volume 20")
    from mangaassist.retrieval.store import Filters

    a = index.search("Blue Lock volume 20", q, 5, Filters())
    b = loaded.search("Blue Lock volume 20", q, 5, Filters())
    assert [h.doc for h in a.hits] == [h.doc for h in b.hits]
    assert index.products[a.hits[0].doc]["volume_number"] == 20


class CountingEmbedder(HashingEmbedder):
    """Test double: the hashing embedder, counting the texts it embeds."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls = 0

    async def aembed_query(self, text: str) -> np.ndarray:
        self.calls += 1
        return await super().aembed_query(text)


async def test_a_repeated_query_text_is_embedded_once(index: CatalogIndex) -> None:
    embedder = CountingEmbedder()
    servicer = RetrievalServicer(5, 100, 2000)
    servicer.ready(CatalogIndex(index.products, index.vectors, embedder, None))
    context: Any = None
    first = await servicer.Embed(retrieval_pb2.EmbedRequest(text="dark fantasy"), context)
    again = await servicer.Embed(retrieval_pb2.EmbedRequest(text="dark fantasy"), context)
    assert list(again.embedding) == list(first.embedding) and embedder.calls == 1
    # Searches with other filters reuse the vector (the result cache keys on filters too).
    for language in ("ja", "en"):
        reply = await servicer.Search(
            retrieval_pb2.SearchRequest(query="dark fantasy", filters={"language": language}), context
        )
        assert reply.results and not reply.cached
    assert embedder.calls == 1
    # Keyed by the normalised text (NFKC, case-folded, spaces collapsed): variants of one
    # text share its vector; another text is embedded.
    variant = await servicer.Embed(retrieval_pb2.EmbedRequest(text="Ｄａｒｋ  Fantasy"), context)
    assert list(variant.embedding) == list(first.embedding) and embedder.calls == 1
    await servicer.Embed(retrieval_pb2.EmbedRequest(text="dark fantasy manga"), context)
    assert embedder.calls == 2


@pytest.fixture(scope="module")
def linked(index: CatalogIndex) -> RetrievalServicer:
    """The servicer with the catalog's linker, as the server wires it."""
    from mangaassist.retrieval.server import open_linker

    servicer = RetrievalServicer(10, 100, 2000)
    servicer.ready(index, open_linker(RetrievalSettings()))
    return servicer


async def search(servicer: RetrievalServicer, query: str, k: int, fields: list[str], **filters: Any) -> list[Any]:
    """The products of one Search, the servicer called directly (no gRPC context)."""
    reply = await servicer.Search(retrieval_pb2.SearchRequest(query=query, k=k, fields=fields, filters=filters), None)
    return [r.product for r in reply.results]


async def test_same_author_filters_to_the_works_of_those_authors(linked: RetrievalServicer) -> None:
    products = await search(
        linked,
        "anything else by him",
        10,
        ["series_id"],
        by_authors_of=["death-note"],
        exclude_series_ids=["death-note"],
    )
    shown = {p.series_id for p in products}
    # Tsugumi Ohba wrote Bakuman; Takeshi Obata drew it and Hikaru no Go.
    assert {"bakuman", "hikaru-no-go"} <= shown and "death-note" not in shown
    assert not await search(linked, "anything else by him", 10, ["series_id"], by_authors_of=["no-such-series"])


async def test_shorter_or_cheaper_than_a_series_is_below_its_edition(linked: RetrievalServicer) -> None:
    shorter = await search(
        linked, "fantasy", 10, ["series_id", "volumes"], genres=["fantasy"], language="ja", shorter_than=["frieren"]
    )
    frieren = next(s for s in load_series(RetrievalSettings().catalog_path) if s["series_id"] == "frieren")
    assert shorter and all(p.volumes < frieren["volumes_ja"] for p in shorter)
    cheaper = await search(linked, "manga", 10, ["series_id", "price_jpy"], language="en", cheaper_than=["frieren"])
    assert cheaper and all(p.price_jpy < frieren["price_en_jpy"] for p in cheaper)


async def test_a_story_told_chooses_among_the_series_offered(linked: RetrievalServicer) -> None:
    # Between the two "Blue" titles, the one whose synopsis tells of art school comes first
    # (the story is weighed among those the filter leaves, not the whole catalog).
    offered = ["blue-lock", "blue-period"]
    for query in ("ブルーなんとかってやつ、美大めざす話", "ブルーのサッカーのやつ"):
        products = await search(linked, query, 5, ["series_id"], series_ids=offered, language="ja")
        assert products[0].series_id == ("blue-period" if "美大" in query else "blue-lock")


async def test_a_kind_of_story_ruled_out_rules_out_its_series(linked: RetrievalServicer) -> None:
    products = await search(
        linked, "sports manga", 10, ["series_id"], genres=["sports"], excluded_kinds=["basketball", "volleyball"]
    )
    shown = {p.series_id for p in products}
    assert shown and not shown & {"slam-dunk", "kurokos-basketball", "haikyu"}


async def test_a_young_readers_age_group_shows_only_series_rated_for_all_ages(linked: RetrievalServicer) -> None:
    rated = {s["series_id"]: s["age_rating"] for s in load_series(RetrievalSettings().catalog_path)}
    products = await search(
        linked, "manga for my 6 year old, something with animals", 10, ["series_id"], max_age_rating=0
    )
    assert len(products) == 10 and all(rated[p.series_id] == "all" for p in products)
    teens = await search(linked, "a dark fantasy manga", 10, ["series_id"], max_age_rating=13)
    assert teens and all(rated[p.series_id] in ("all", "13+") for p in teens)


async def test_an_age_group_out_of_range_is_the_callers_error(linked: RetrievalServicer) -> None:
    with pytest.raises(ServiceError) as err:
        await search(linked, "manga", 5, ["series_id"], max_age_rating=2**31 - 1)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_several_genres_asked_for_show_the_series_with_all_of_them_first(linked: RetrievalServicer) -> None:
    products = await search(
        linked, "a romance that makes you cry", 8, ["series_id", "genres"], genres=["romance", "drama"]
    )
    genres = [set(p.genres) for p in products]
    assert len(genres) == 8 and all(g & {"romance", "drama"} for g in genres)
    both = [{"romance", "drama"} <= g for g in genres]
    assert both[0] and both == sorted(both, reverse=True)  # every series with both before any with one


async def test_kinds_wanted_together_are_all_on_every_series_or_else_the_kind_added(
    linked: RetrievalServicer,
) -> None:
    products = await search(
        linked, "a school romance", 10, ["series_id", "genres"], genres=["romance"], all_genres=["school"]
    )
    assert products and all({"romance", "school"} <= set(p.genres) for p in products)
    # No series is both: the kind added last (the customer's latest words), rather than nothing.
    wider = await search(linked, "mecha cooking", 5, ["series_id", "genres"], genres=["mecha"], all_genres=["cooking"])
    assert wider and all("cooking" in p.genres for p in wider)
