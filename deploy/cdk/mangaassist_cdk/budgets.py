"""The latency budgets and contract span names, read from the services' source as data.

The stack alarms on the same thresholds the bottleneck detector judges by
(``libs/observability/mangaassist/observability/budgets.py``), but the deploy venv never
imports service code (it would drag numpy and the OTel SDK into CDK synthesis): the two
tables are plain literals, so they are read with ``ast``, and a missing or changed shape
fails synthesis instead of silently dropping an alarm.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from mangaassist_cdk.config import REPO_ROOT

SPANS = REPO_ROOT / "libs/common/mangaassist/common/spans.py"
BUDGETS = REPO_ROOT / "libs/observability/mangaassist/observability/budgets.py"


@dataclass(frozen=True)
class Budget:
    segment: str
    budget_ms: float
    alert_pct: float = 20.0

    @property
    def threshold_ms(self) -> float:
        """The detector's alarm line: p95 above the budget by more than ``alert_pct``."""
        return self.budget_ms * (1 + self.alert_pct / 100)


def span_names(path: Path = SPANS) -> dict[str, str]:
    """Module-level ``NAME: Final = "span-name"`` constants."""
    names: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        )
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            names[target.id] = value.value
    return names


def budgets(path: Path = BUDGETS, spans_path: Path = SPANS) -> list[Budget]:
    """Every ``Budget(s.NAME, ms[, alert_pct])`` in the budgets module, in order."""
    names = span_names(spans_path)
    found: list[Budget] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Budget":
            segment, *numbers = node.args
            if not (isinstance(segment, ast.Attribute) and segment.attr in names):
                raise ValueError(f"{path.name}:{node.lineno}: Budget needs a span constant, got {ast.dump(segment)}")
            values = [float(ast.literal_eval(n)) for n in numbers]
            found.append(Budget(names[segment.attr], *values))
    if not found:
        raise ValueError(f"no Budget(...) found in {path}")
    return found
