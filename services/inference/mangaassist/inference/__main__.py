"""``python -m mangaassist.inference``: run the inference service until SIGTERM."""

from mangaassist.common.runtime import serve
from mangaassist.inference.config import InferenceSettings
from mangaassist.inference.server import build_app

if __name__ == "__main__":
    serve("inference", InferenceSettings, build_app)
