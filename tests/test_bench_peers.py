"""The side-by-side benchmark harness (``python -m bench.peers``) runs end to end and cannot rot.

One run in its smallest mode (QUICK, one repetition) against real processes on ephemeral
ports, written to a temp dir: every suite has a result, the markdown has every section and
its figures, and ``--render-only`` rebuilds the same page from the results file alone. No
timing is asserted. Plus the shared statistics helpers, on known numbers.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.peers import stats
from bench.peers.__main__ import SUITES

REPO = Path(__file__).resolve().parents[1]


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


def test_harness_quick_run_writes_results_and_markdown(tmp_path: Path) -> None:
    results, page, plots = tmp_path / "peers.json", tmp_path / "BENCHMARKS.md", tmp_path / "plots"
    env = {**os.environ, "MANGAASSIST_RETRIEVAL_INDEX_DIR": str(REPO / ".cache" / "index")}
    args = [sys.executable, "-m", "bench.peers", "--quick", "--reps", "1",
            "--results", str(results), "--markdown", str(page), "--plots-dir", str(plots)]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    data = json.loads(results.read_text())  # strict JSON: no NaN
    assert set(data["suites"]) == set(SUITES)
    for name, entry in data["suites"].items():
        assert "error" not in entry, f"{name}: {entry.get('error')}\n{entry.get('traceback', '')}"
        assert entry["quick"] is True and entry["reps"] == 1 and entry["result"]
    env_info = data["environment"]
    assert env_info["cpu_count"] and env_info["python"] and env_info["commit"] and "grpcio" in env_info["libraries"]
    assert data["suites"]["load"]["result"]["levels"].keys() == {"16", "64"}

    text = page.read_text()
    assert "QUICK run" in text and "## Environment" in text and "This suite failed" not in text
    for heading in ("## gRPC vs REST/JSON", "## Mesh vs monolith", "## Load"):
        assert heading in text
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert {Path(f).name for f in figures} >= {"grpc_vs_rest.png", "mesh_vs_monolith.png", "load.png"}
    for figure in figures:
        assert Path(figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = tmp_path / "again.md"
    rerender = subprocess.run(
        [sys.executable, "-m", "bench.peers", "--render-only", "--results", str(results), "--markdown", str(again),
         "--plots-dir", str(plots)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rerender.returncode == 0, rerender.stderr[-2000:]
    assert again.read_text() == text
