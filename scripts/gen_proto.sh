#!/usr/bin/env bash
# Generate Python stubs (+ typed .pyi from mypy-protobuf) from protos/ into the given directory (default libs/proto).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-libs/proto}"
py="${PYTHON:-.venv/bin/python}"
mapfile -t files < <(cd protos && find . -name '*.proto' | sed 's|^\./||' | sort)
rm -rf "$out/mangaassist"
mkdir -p "$out"
bin="$(cd "$(dirname "$py")" && pwd)"
root="$PWD"
# .pyi for messages and for the gRPC stubs/servicers come from mypy-protobuf.
(cd protos && "$root/$py" -m grpc_tools.protoc -I . \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --python_out="$root/$out" --grpc_python_out="$root/$out" \
  --mypy_out="$root/$out" --mypy_grpc_out="$root/$out" "${files[@]}")
# Every generated folder is a regular package so mypy and importers agree on names.
find "$out/mangaassist/proto" -type d -exec touch {}/__init__.py \;
