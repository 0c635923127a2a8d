"""AWS_REGION everywhere, with one default: every service's settings fall back to the same
Region, and a service's own ``…_AWS_REGION`` still wins (a config test: no process starts)."""

from __future__ import annotations

import pytest

from mangaassist.common.settings import DEFAULT_AWS_REGION, aws_region_default
from mangaassist.inference.config import InferenceSettings
from mangaassist.observability.detector import DetectorSettings
from mangaassist.orchestrator.config import OrchestratorSettings


def test_one_aws_region_default_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "MANGAASSIST_INFERENCE_AWS_REGION",
                "MANGAASSIST_ORCHESTRATOR_AWS_REGION", "MANGAASSIST_DETECTOR_AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    assert aws_region_default() == DEFAULT_AWS_REGION == "ap-northeast-1"
    assert InferenceSettings().aws_region == OrchestratorSettings().aws_region == "ap-northeast-1"
    assert DetectorSettings().aws_region == "ap-northeast-1"
    monkeypatch.setenv("AWS_REGION", "ap-northeast-3")
    assert InferenceSettings().aws_region == OrchestratorSettings().aws_region == "ap-northeast-3"
    monkeypatch.setenv("MANGAASSIST_INFERENCE_AWS_REGION", "us-west-2")  # the service's own setting still wins
    assert InferenceSettings().aws_region == "us-west-2"
