#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the pinned dependency set; make the source
# roots importable. Idempotent; the Makefile reruns it when the lock file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
{
  for root in libs/common libs/proto libs/observability libs/devtools services/intent services/intent/training services/retrieval services/inference services/orchestrator; do
    echo "$PWD/$root"
  done
} > "$site/mangaassist-src.pth"
touch .venv/.installed
