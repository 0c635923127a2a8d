"""Inference service settings (env prefix ``MANGAASSIST_INFERENCE_``)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mangaassist.common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MANGAASSIST_INFERENCE_")

    port: int = 50053
    backend: str = "template-emulator"
    # Pause between streamed chunks of the local emulator (a real model streams ~10 ms/token).
    token_delay_ms: float = Field(default=10.0, ge=0.0)
    default_max_tokens: int = Field(default=512, ge=1)
    max_tokens_limit: int = Field(default=4096, ge=1)
