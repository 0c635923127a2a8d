# MangaAssist — every entry point people and CI use. `make up` and `make test` work on a
# fresh clone: they install what is missing first.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.installed
GRPCURL := .tools/grpcurl

.PHONY: up test unit integration chat proto proto-check lint bench lock clean install tools

$(STAMP): requirements.lock scripts/bootstrap.sh
	scripts/bootstrap.sh

install: $(STAMP)

$(GRPCURL): | $(STAMP)
	scripts/fetch_grpcurl.sh

tools: $(GRPCURL)

## up: run the whole local cluster in the foreground (Ctrl-C stops it)
up: $(STAMP)
	$(PY) -m mangaassist.devtools.up

## test: the full suite — stubs fresh, lint clean, unit + integration + end to end
test: $(STAMP) $(GRPCURL) proto-check lint
	$(PY) -m pytest

## chat: stream one answer in the terminal: make chat Q="おすすめのダークファンタジーは？"
chat: $(STAMP)
	$(PY) -m mangaassist.orchestrator.client "$(or $(Q),おすすめのダークファンタジーは？)"

proto: $(STAMP)
	scripts/gen_proto.sh libs/proto

proto-check: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && scripts/gen_proto.sh "$$tmp" && \
	if diff -r -x __pycache__ "$$tmp/mangaassist" libs/proto/mangaassist >/dev/null; then echo "proto stubs are fresh"; \
	else echo "proto stubs are stale: run 'make proto' and commit libs/proto" >&2; diff -r -x __pycache__ "$$tmp/mangaassist" libs/proto/mangaassist | head -20 >&2; exit 1; fi

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/mypy

## bench: end-to-end and per-segment latency, then the inference levers; writes bench/results/*.json
bench: $(STAMP)
	$(PY) -m bench.e2e
	$(PY) -m bench.inference

## lock: re-pin requirements.lock from requirements.in in a scratch venv
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && python3.11 -m venv "$$tmp/v" && \
	"$$tmp/v/bin/pip" install -q -r requirements.in && "$$tmp/v/bin/pip" freeze > requirements.lock

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache
