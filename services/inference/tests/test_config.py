"""The model settings: current Claude models through the Japan inference profiles by default,
the same ids the deploy stack passes (and grants IAM for), and any id taken from the
environment (a config test: no process starts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mangaassist.inference.config import InferenceSettings

CDK_JSON = Path(__file__).resolve().parents[3] / "deploy" / "cdk" / "cdk.json"


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for route in ("HAIKU", "SONNET"):
        monkeypatch.delenv(f"MANGAASSIST_INFERENCE_{route}_MODEL_ID", raising=False)


def test_the_defaults_are_current_claude_through_the_japan_profiles_and_match_the_stack() -> None:
    settings = InferenceSettings()
    assert settings.model_ids == {
        "haiku": "jp.anthropic.claude-haiku-4-5-20251001-v1:0",
        "sonnet": "jp.anthropic.claude-sonnet-4-6",
    }
    context = json.loads(CDK_JSON.read_text())["context"]
    assert (context["haikuModelId"], context["sonnetModelId"]) == (settings.haiku_model_id, settings.sonnet_model_id)


def test_model_ids_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGAASSIST_INFERENCE_SONNET_MODEL_ID", "global.anthropic.claude-sonnet-4-6")
    assert InferenceSettings().model_ids["sonnet"] == "global.anthropic.claude-sonnet-4-6"


def test_bedrock_is_the_only_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANGAASSIST_INFERENCE_BACKEND", "template-emulator")
    with pytest.raises(ValueError, match="backend"):
        InferenceSettings()
