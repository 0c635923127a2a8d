"""``python -m mangaassist.retrieval``: run the retrieval service until SIGTERM."""

from mangaassist.common.runtime import serve
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.server import build_app

if __name__ == "__main__":
    serve("retrieval", RetrievalSettings, build_app)
