#!/usr/bin/env bash
# Generate Python stubs (+ typed .pyi from mypy-protobuf) from protos/ into the given
# directory (default libs/proto).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="${1:-libs/proto}"
py="${PYTHON:-.venv/bin/python}"
[[ "$py" = /* ]] || py="$root/$py"
bin="$(dirname "$py")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
mapfile -t files < <(cd protos && find . -name '*.proto' | sed 's|^\./||' | sort)
rm -rf "$out/mangaassist"
(cd protos && "$py" -m grpc_tools.protoc -I . \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="quiet:$out" --mypy_grpc_out="quiet:$out" "${files[@]}")
# Every generated folder is a regular package so mypy and importers agree on names.
find "$out/mangaassist/proto" -type d -exec touch {}/__init__.py \;
