"""Fixtures for the deploy checks: one offline synthesis of the CDK app per session.

The stack is synthesised environment-agnostic (no account, no region), which needs no
AWS credentials and no network; the ``cdk.out`` assembly goes to a temp dir.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from mangaassist_cdk.config import DeploySettings
from mangaassist_cdk.stack import MangaAssistStack

REPO_ROOT = Path(__file__).resolve().parents[3]
DEPLOY = REPO_ROOT / "deploy"


# The one context value a deploy must bring (HTTPS only); any well-formed ARN synthesises offline.
CERTIFICATE = "arn:aws:acm:ap-northeast-1:111122223333:certificate/0b1c2d3e-test"


def synth(
    outdir: Path, context: dict[str, Any] | None = None, *, nag: bool = False, env: cdk.Environment | None = None
) -> tuple[MangaAssistStack, Path]:
    """Synthesise the app into ``outdir`` (with a test certificate unless ``context`` names
    one); returns the stack and its template file. ``nag`` runs cdk-nag's AwsSolutions pack
    as ``app.py`` does (a finding without an acknowledgement fails the synthesis)."""
    for key in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        os.environ.pop(key, None)
    app = cdk.App(outdir=str(outdir), context={"certificateArn": CERTIFICATE, **(context or {})})
    settings = DeploySettings.from_context(app.node.try_get_context)
    stack = MangaAssistStack(app, settings.stack_name, settings=settings, env=env)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()
    return stack, Path(assembly.directory) / f"{settings.stack_name}.template.json"


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[MangaAssistStack, Path]:
    """The default stack, checked by cdk-nag on the way (as every ``cdk synth`` / ``deploy`` is)."""
    return synth(tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="session")
def brought_guardrail(tmp_path_factory: pytest.TempPathFactory) -> tuple[MangaAssistStack, Path]:
    """The other shape a deploy takes: its own guardrail and certificate, no OpenSearch standby
    replicas, no cache replicas, three AZs (checked by the stack tests and cfn-lint alike)."""
    return synth(
        tmp_path_factory.mktemp("cdk.out.variant"),
        {
            "guardrailId": "gr-abc123",
            "guardrailVersion": "3",
            "certificateArn": "arn:aws:acm:ap-northeast-1:111122223333:certificate/x",
            "aossStandbyReplicas": "DISABLED",
            "cacheReplicas": 0,
            "maxAzs": 3,
        },
    )


@pytest.fixture(scope="session")
def template(synthesized: tuple[MangaAssistStack, Path]) -> Template:
    stack, _ = synthesized
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def resources(synthesized: tuple[MangaAssistStack, Path]) -> dict[str, dict[str, Any]]:
    _, path = synthesized
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())["Resources"]
    return data


@pytest.fixture(scope="session")
def of_type(resources: dict[str, dict[str, Any]]) -> Callable[[str], dict[str, dict[str, Any]]]:
    def pick(kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in resources.items() if r["Type"] == kind}

    return pick


@pytest.fixture
def compose_bin() -> Iterator[Path]:
    path = REPO_ROOT / ".tools" / "docker-compose"
    if not path.exists():
        pytest.fail(
            "missing .tools/docker-compose: run `make deploy-check` (it fetches it) or scripts/fetch_compose.sh"
        )
    yield path
