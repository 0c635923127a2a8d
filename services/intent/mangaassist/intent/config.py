"""Intent service settings (env prefix ``MANGAASSIST_INTENT_``)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mangaassist.common.settings import ServiceSettings

# The versioned artefact written by `make intent-model` (tools/intent-training) and committed
# with the code, next to its card (intent-linear.md); the only model file the service reads.
DEFAULT_MODEL_PATH = Path(__file__).parent / "artefacts" / "intent-linear.npz"


class IntentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_INTENT_")

    port: int = 50051
    model_path: Path = DEFAULT_MODEL_PATH
    # Below this top-class probability the classifier abstains (clarifying question).
    # Unset: use the threshold chosen on validation data and stored with the model.
    abstain_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    max_text_chars: int = 4000
    explain_top_features: int = Field(default=5, ge=1, le=50)
