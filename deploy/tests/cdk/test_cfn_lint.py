"""cfn-lint on the synthesized templates (offline: its resource specs ship in the package)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mangaassist_cdk.stack import MangaAssistStack

CFN_LINT = Path(sys.executable).with_name("cfn-lint")
# W3005: CDK adds an explicit DependsOn from the orchestrator service to its listener rule
# next to the Ref that already implies it; harmless and generated, not ours to change.
IGNORED = "W3005"


def lint(template: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), "--ignore-checks", IGNORED, "--", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_default_template_passes_cfn_lint(synthesized: tuple[MangaAssistStack, Path]) -> None:
    _, template = synthesized
    result = lint(template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_https_and_brought_guardrail_variant_passes_cfn_lint(brought_guardrail: tuple[MangaAssistStack, Path]) -> None:
    _, template = brought_guardrail
    result = lint(template)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_catches_a_broken_template(synthesized: tuple[MangaAssistStack, Path], tmp_path: Path) -> None:
    """The check can fail: an invalid property value in a copy of our template is reported."""
    _, template = synthesized
    data = json.loads(template.read_text())
    table = next(r for r in data["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")
    table["Properties"]["BillingMode"] = "FREE_FOREVER"
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps(data))
    result = lint(broken)
    assert result.returncode != 0
    assert "FREE_FOREVER" in result.stdout
