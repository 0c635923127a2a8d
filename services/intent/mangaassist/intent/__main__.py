"""``python -m mangaassist.intent``: run the intent service until SIGTERM."""

import sys

from mangaassist.common.runtime import serve
from mangaassist.intent.config import IntentSettings
from mangaassist.intent.model import ModelError
from mangaassist.intent.server import build_app

if __name__ == "__main__":
    try:
        serve("intent", IntentSettings, build_app)
    except ModelError as exc:
        print(f"intent: cannot start: {exc}", file=sys.stderr)
        sys.exit(2)
