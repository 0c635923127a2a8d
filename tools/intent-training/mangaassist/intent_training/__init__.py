"""Training and data generation for the intent classifier — never imported by the service.

The service (``mangaassist.intent``) loads only the exported artefact
(``services/intent/mangaassist/intent/artefacts/``) and its card; this package holds what
produces them: the labelled dataset (``tools/intent-training/data/``, see its DATASHEET),
the batch composers (``compose_v3``, ``compose_v4``) and the trainer (``train``, which needs
scikit-learn). None of it is copied into the intent image.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
DATASET = DATA_DIR / "intents.jsonl"
