"""CDK entry point: ``cdk synth`` / ``cdk deploy`` run this (see cdk.json).

Account and region come from the CLI's credentials (CDK_DEFAULT_ACCOUNT / _REGION); with
neither set the stack synthesises environment-agnostic, which is how the tests run offline.
Run from this directory (``python app.py`` puts it on ``sys.path``).
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from mangaassist_cdk.config import DeploySettings
from mangaassist_cdk.stack import MangaAssistStack


def build(app: cdk.App) -> MangaAssistStack:
    settings = DeploySettings.from_context(app.node.try_get_context)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = cdk.Environment(account=account, region=region) if account and region else None
    stack = MangaAssistStack(
        app,
        settings.stack_name,
        settings=settings,
        env=env,
        description="MangaAssist chat assistant: gRPC mesh on ECS Fargate, no NAT",
    )
    cdk.Tags.of(stack).add("project", "mangaassist")
    # cdk-nag's AwsSolutions pack on every synth and deploy: a finding the stack does not
    # acknowledge (with its reason, MangaAssistStack._acknowledge_nag_findings) fails it.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


if __name__ == "__main__":
    application = cdk.App()
    build(application)
    application.synth()
