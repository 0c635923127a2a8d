"""Helpers for the suites' BENCHMARKS.md sections: markdown tables and PNG figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only, never a display

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parents[2]


def link(path: Path) -> str:
    """How BENCHMARKS.md (at the repo root) links ``path``: relative to the repo when inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(REPO).as_posix()
    except ValueError:
        return resolved.as_posix()


def save_figure(fig: Figure, plots_dir: Path, name: str) -> str:
    """Write ``fig`` as ``plots_dir/name.png`` (and close it); the markdown link target."""
    import matplotlib.pyplot as plt

    plots_dir.mkdir(parents=True, exist_ok=True)
    path = plots_dir / f"{name}.png"
    fig.tight_layout()
    # No timestamp in the PNG's metadata: re-rendering the same results gives the same file.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return link(path)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table (first column left-aligned, the rest right-aligned)."""
    align = [":---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
