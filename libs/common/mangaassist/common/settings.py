"""Settings base shared by every service (pydantic-settings, one env prefix per service)."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The constrained field types the services' settings share: ``request_timeout_s: Seconds = 30.0``.
Seconds = Annotated[float, Field(gt=0)]  # a duration, in seconds, that must be positive
Count = Annotated[int, Field(ge=1)]  # a size or limit of at least one
Limit = Annotated[int, Field(ge=0)]  # a count where 0 is allowed (often: "off")

# The one Region every service falls back to when neither its own ``…_AWS_REGION`` nor the
# standard ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` is set: the store's home, Tokyo.
DEFAULT_AWS_REGION = "ap-northeast-1"


def aws_region_default() -> str:
    """``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else ``DEFAULT_AWS_REGION`` (read when settings are built)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_AWS_REGION


class ServiceSettings(BaseSettings):
    """Fields every process has. Subclasses set ``env_prefix`` (e.g. ``MANGAASSIST_INTENT_``).

    Settings are validated once, in ``main()``, and passed down; nothing reads the
    environment at import time.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    log_level: str = "INFO"
    # Seconds in-flight RPCs get to finish after SIGTERM before they are cancelled.
    drain_grace_s: float = Field(default=10.0, ge=0.0)
    service_version: str = "0.1.0"
    # Every service's Region, the same way: its own ``…_AWS_REGION``, else ``AWS_REGION``,
    # else ``AWS_DEFAULT_REGION``, else ``DEFAULT_AWS_REGION`` (one place, so none drifts).
    aws_region: str = Field(default_factory=aws_region_default)

    # Fault injection, for resilience tests and drills (never set in normal operation):
    # every RPC of the service is delayed by ``fault_delay_ms`` and fails with
    # ``fault_error_code`` with probability ``fault_error_rate``. ``fault_segments`` (JSON
    # list of contract span names, e.g. ``["vector-search"]``) limits the faults to the RPCs
    # of those segments; empty = every RPC.
    fault_delay_ms: float = Field(default=0.0, ge=0.0)
    fault_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_error_code: str = "UNAVAILABLE"
    fault_segments: frozenset[str] = frozenset()

    @property
    def faults_enabled(self) -> bool:
        return self.fault_delay_ms > 0 or self.fault_error_rate > 0
