#!/usr/bin/env bash
# Create .venv (Python 3.11) from the hashed lock (uv.lock): every workspace member (libs/*,
# services/*, tools/intent-training) installed editable with its runtime dependencies, plus the
# dev and bench groups. uv itself is pinned and installed into .tools/uv on first use.
# Idempotent; the Makefile reruns it when the lock or a pyproject changes.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3.11}"
uv_version=0.13.8
if ! .tools/uv/bin/uv --version 2>/dev/null | grep -qx "uv $uv_version"; then
  "$py" -m venv .tools/uv
  .tools/uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$uv_version"
fi
# Before the workspace packages, a hand-written .pth put the source roots on sys.path: drop it.
if [ -x .venv/bin/python ]; then
  rm -f "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mangaassist-src.pth"
fi
# --compile-bytecode: the packages' .pyc are written once here, so a shell that sets
# PYTHONDONTWRITEBYTECODE does not compile scikit-learn, SciPy, gRPC ... again on every test run.
UV_PYTHON_DOWNLOADS=never .tools/uv/bin/uv sync --frozen --compile-bytecode --python "$py" "$@"
touch .venv/.installed
