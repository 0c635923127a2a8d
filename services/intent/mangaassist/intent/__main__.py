"""``python -m mangaassist.intent``: run the intent service until SIGTERM."""

from mangaassist.common.runtime import serve
from mangaassist.intent.config import IntentSettings
from mangaassist.intent.server import build_app

if __name__ == "__main__":
    serve("intent", IntentSettings, build_app)
