"""The side-by-side benchmark harness (``python -m bench.peers``) on tiny fixtures: it cannot rot,
and it is never run at size inside the test suite (``make bench-peers`` does that; ``QUICK=1``
for a CI-sized smoke run).

- the run/record path of ``main``, with one tiny in-memory suite (a test double, labelled) that
  passes and one that raises: strict JSON results, the failure recorded not raised, exit 1;
- the render path over the committed results of every real suite (``bench/results/peers.json``):
  every section and figure;
- the shared statistics helpers, on known numbers. No timing is asserted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.peers import __main__ as harness
from bench.peers import stats

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "bench" / "results" / "peers.json"


def test_stats_summaries_and_paired_ratios() -> None:
    assert stats.summary([3.0, 1.0, 2.0, float("nan")]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert stats.summary([])["n"] == 0 and math.isnan(stats.summary([])["median"])
    assert stats.paired_ratios([1.0, 2.0, 0.0], [2.0, 3.0, 1.0])[:2] == [2.0, 1.5]
    assert math.isnan(stats.paired_ratios([0.0], [1.0])[0])
    assert stats.ratio_summary([1.0, 2.0, 4.0], [2.0, 2.0, 4.0])["median"] == 1.0
    with pytest.raises(ValueError, match="as many"):
        stats.paired_ratios([1.0], [1.0, 2.0])
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert stats.fmt(stats.summary([1.0, 2.0, 3.0])) == "2.00 (1.00–3.00)"
    assert stats.fmt(stats.summary([])) == "n/a"


def _tiny_suite(fail: bool) -> SimpleNamespace:
    """In-memory test double of a suite module: ``run`` and ``markdown`` over two numbers."""

    def run(quick: bool, reps: int, progress: Callable[[str], None]) -> dict[str, Any]:
        progress("tiny")
        if fail:
            raise RuntimeError("the tiny suite broke")
        return {"settings": {"seeds": {"tiny": 7}}, "ms": [1.0, float("nan")], "reps": reps, "quick": quick}

    def markdown(result: dict[str, Any], plots_dir: Path) -> str:
        return f"## Tiny\n\n{stats.fmt(stats.summary([m for m in result['ms'] if m is not None]))}\n"

    return SimpleNamespace(run=run, markdown=markdown)


def test_a_run_records_strict_json_and_a_failing_suite_without_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suites = {"tiny": _tiny_suite(fail=False), "broken": _tiny_suite(fail=True)}
    monkeypatch.setattr(harness, "SUITES", list(suites))
    monkeypatch.setattr(harness, "load_suite", suites.__getitem__)
    results, page = tmp_path / "peers.json", tmp_path / "BENCHMARKS.md"
    code = harness.main(
        [
            "--quick",
            "--reps",
            "1",
            "--results",
            str(results),
            "--markdown",
            str(page),
            "--plots-dir",
            str(tmp_path / "plots"),
        ]
    )
    assert code == 1  # one suite failed: the run says so
    data = json.loads(results.read_text(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert data["suites"]["tiny"]["result"]["ms"] == [1.0, None] and data["suites"]["tiny"]["quick"] is True
    assert data["suites"]["broken"]["error"] == "RuntimeError: the tiny suite broke"
    assert data["environment"]["seeds"] == {"tiny": {"tiny": 7}}
    text = page.read_text()
    assert "QUICK run" in text and "## Tiny" in text
    assert "**This suite failed in the last run:** `RuntimeError: the tiny suite broke`" in text


def test_render_only_rebuilds_every_section_and_figure_from_the_results(tmp_path: Path) -> None:
    page = tmp_path / "BENCHMARKS.md"
    assert (
        harness.main(
            [
                "--render-only",
                "--results",
                str(COMMITTED),
                "--markdown",
                str(page),
                "--plots-dir",
                str(tmp_path / "plots"),
            ]
        )
        == 0
    )
    text = page.read_text()
    assert "## Environment" in text and "This suite failed" not in text
    for heading in ("## gRPC vs REST/JSON", "## Mesh vs monolith", "## Load"):
        assert heading in text
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert {Path(f).name for f in figures} >= {"grpc_vs_rest.png", "mesh_vs_monolith.png", "load.png"}
    for figure in figures:
        assert Path(figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_only_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        harness.main(["--render-only", "--results", str(tmp_path / "none.json"), "--markdown", str(tmp_path / "x.md")])
    assert exit_info.value.code == 2
