"""The model card shipped next to the intent artefact: ``python -m mangaassist.intent_training.card``.

The intent image carries the artefact and this card only (no dataset, no training code),
so the card says what a reader of the image needs: which version, trained on what (the
dataset's hash and size), with which parameters, and the validation numbers behind the
thresholds the service abstains at. It is rendered from the artefact's own metadata, so it
cannot drift from the model: ``make intent-model`` rewrites both, and a training test checks
the committed card against the committed artefact.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mangaassist.intent.config import DEFAULT_MODEL_PATH
from mangaassist.intent.model import IntentModel


def card_path(model_path: Path) -> Path:
    return model_path.with_suffix(".md")


def _head(title: str, validation: dict[str, Any]) -> list[str]:
    return [
        f"| {title} | {validation['accuracy']:.4f} | {validation['threshold']:.4f} | {validation['coverage']:.4f} "
        f"| {validation['answered_accuracy']:.4f} | {validation['max_confident_error']} |",
    ]


def render_card(model: IntentModel) -> str:
    """Markdown for ``model``, from its labels and metadata only."""
    meta = model.metadata
    lines = [
        f"# Model card: `{model.version}`",
        "",
        "The intent service's classifier (`mangaassist.intent.model`): TF-IDF over character and word",
        "n-grams plus a domain lexicon, a linear softmax head, served with numpy only. Written by",
        "`make intent-model` (`tools/intent-training`); do not edit by hand.",
        "",
        f"- trained at: {meta.get('trained_at', '?')}",
        f"- dataset: `intents.jsonl`, sha256 `{meta.get('dataset_sha256', '?')}`, "
        f"{meta.get('train_examples', '?')} train-split examples (the test split is held out for the benchmark)",
        f"- labels: {', '.join(f'`{label}`' for label in model.labels)}",
        f"- text head parameters: `{meta.get('params', {})}`",
    ]
    if model.fusion is not None:
        lines.append(
            f"- fusion head: n-grams + a {model.fusion.dim}-d query embedding from `{model.fusion.embedder}` "
            f"(used only on vectors from that embedder), parameters `{meta.get('fusion_params', {})}`"
        )
    lines += [
        "",
        f"Validation ({meta.get('validation', {}).get('method', '?')}); the service answers when the top",
        "intent's probability reaches the threshold and asks back otherwise:",
        "",
        "| head | accuracy | threshold | coverage | answered accuracy | confident-error budget |",
        "|---|---|---|---|---|---|",
    ]
    if "validation" in meta:
        lines += _head("text", meta["validation"])
    if "fusion_validation" in meta:
        lines += _head("fusion", meta["fusion_validation"])
    return "\n".join(lines) + "\n"


def write_card(model_path: Path) -> Path:
    path = card_path(model_path)
    path.write_text(render_card(IntentModel.load(model_path)), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    args = parser.parse_args(argv)
    print(write_card(args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
