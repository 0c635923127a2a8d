"""AWS_REGION everywhere, with one default: every service's settings (one field on the shared
base) fall back to the same Region, and a service's own ``…_AWS_REGION`` still wins (a config
test: no process starts)."""

from __future__ import annotations

import pytest

from mangaassist.common.settings import DEFAULT_AWS_REGION, ServiceSettings, aws_region_default
from mangaassist.inference.config import InferenceSettings
from mangaassist.intent.config import IntentSettings
from mangaassist.observability.detector import DetectorSettings
from mangaassist.orchestrator.config import OrchestratorSettings
from mangaassist.retrieval.config import RetrievalSettings

EVERY_SERVICE: tuple[type[ServiceSettings], ...] = (
    IntentSettings,
    RetrievalSettings,
    InferenceSettings,
    OrchestratorSettings,
    DetectorSettings,
)


@pytest.fixture(autouse=True)
def _no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    for settings in EVERY_SERVICE:
        monkeypatch.delenv(f"{settings.model_config['env_prefix']}AWS_REGION", raising=False)


def test_one_aws_region_default_for_every_service() -> None:
    assert aws_region_default() == DEFAULT_AWS_REGION == "ap-northeast-1"
    assert {settings().aws_region for settings in EVERY_SERVICE} == {"ap-northeast-1"}


def test_aws_region_and_aws_default_region_are_honoured_by_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert {settings().aws_region for settings in EVERY_SERVICE} == {"eu-west-1"}
    monkeypatch.setenv("AWS_REGION", "ap-northeast-3")  # AWS_REGION wins over AWS_DEFAULT_REGION, as in the SDKs
    assert {settings().aws_region for settings in EVERY_SERVICE} == {"ap-northeast-3"}
    monkeypatch.setenv("MANGAASSIST_RETRIEVAL_EMBEDDER", "titan")
    assert RetrievalSettings().embedder_options()["region"] == "ap-northeast-3"  # no longer us-east-1


def test_a_services_own_region_setting_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-northeast-3")
    monkeypatch.setenv("MANGAASSIST_RETRIEVAL_AWS_REGION", "us-west-2")
    monkeypatch.setenv("MANGAASSIST_RETRIEVAL_EMBEDDER", "titan")
    assert RetrievalSettings().embedder_options()["region"] == "us-west-2"  # where Titan is called
    assert InferenceSettings().aws_region == OrchestratorSettings().aws_region == "ap-northeast-3"
