"""Sign-in settings of the deployed orchestrator: anonymous use off unless chosen, tokens
checked for issuer and audience, keys from the user pool's JWKS when one is given (then no
shared key exists and the keys are reachable without a NAT)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import synth
from test_stack import env_of, render, task_containers

ISSUER = "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_Example"
CLIENT = "4example0clientid"


def resources_of(path: Path) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(path.read_text())["Resources"]
    return resources


def orchestrator(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in task_containers(resources, "orchestrator") if c["Name"] == "orchestrator")


def test_the_default_stack_refuses_anonymous_use_and_names_issuer_and_audience(
    resources: dict[str, dict[str, Any]],
) -> None:
    env = env_of(orchestrator(resources))
    assert env["MANGAASSIST_ORCHESTRATOR_ALLOW_ANONYMOUS"] == "false"
    assert env["MANGAASSIST_ORCHESTRATOR_AUTH_ISSUER"] == "MangaAssist"
    assert env["MANGAASSIST_ORCHESTRATOR_AUTH_AUDIENCE"] == "mangaassist-chat"
    assert env["MANGAASSIST_ORCHESTRATOR_ANONYMOUS_COOKIE_SECURE"] == "true"
    assert "MANGAASSIST_ORCHESTRATOR_AUTH_JWKS_URL" not in env
    assert "MANGAASSIST_ORCHESTRATOR_ADMIN_PORT" not in env  # no admin listener in AWS at all


def test_a_user_pool_issuer_means_jwks_no_shared_key_and_an_endpoint_for_its_keys(tmp_path: Path) -> None:
    _, path = synth(tmp_path, {"authIssuer": ISSUER, "authAudience": CLIENT, "allowAnonymous": "true"})
    resources = resources_of(path)
    app = orchestrator(resources)
    env = env_of(app)
    assert env["MANGAASSIST_ORCHESTRATOR_AUTH_JWKS_URL"] == ISSUER + "/.well-known/jwks.json"
    assert (env["MANGAASSIST_ORCHESTRATOR_AUTH_ISSUER"], env["MANGAASSIST_ORCHESTRATOR_AUTH_AUDIENCE"]) == (
        ISSUER,
        CLIENT,
    )
    assert env["MANGAASSIST_ORCHESTRATOR_ALLOW_ANONYMOUS"] == "true"  # only because it was asked for
    assert "Secrets" not in app
    assert not [r for r in resources.values() if r["Type"] == "AWS::SecretsManager::Secret"]
    endpoints = [
        render(r["Properties"]["ServiceName"]) for r in resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint"
    ]
    assert "com.amazonaws.<AWS::Region>.cognito-idp" in endpoints


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"authIssuer": ISSUER}, "go together"),
        ({"authIssuer": "http://issuer.example", "authAudience": CLIENT}, "https"),
        ({"authJwksUrl": ISSUER + "/keys"}, "needs authIssuer"),
    ],
)
def test_half_a_sign_in_setting_fails_the_synth(tmp_path: Path, context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synth(tmp_path, context)
