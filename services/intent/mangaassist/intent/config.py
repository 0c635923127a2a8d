"""Intent service settings (env prefix ``MANGAASSIST_INTENT_``)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mangaassist.common.settings import ServiceSettings

DATA_DIR = Path(__file__).parent / "data"


class IntentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_INTENT_")

    port: int = 50051
    dataset_path: Path = DATA_DIR / "intents.jsonl"
    # Below this top-class probability the classifier abstains (clarifying question).
    abstain_threshold: float = Field(default=0.30, ge=0.0, le=1.0)
    max_text_chars: int = 4000
