# MangaAssist — every entry point people and CI use. `make up` and `make test` work on a
# fresh clone: they install what is missing first.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.installed
GRPCURL := .tools/grpcurl
REDIS_LIBS := .tools/redis-libs/libssl.so.1.1
COMPOSE := .tools/docker-compose
DEPLOY_STAMP := .venv-deploy/.installed

.PHONY: up test unit integration e2e chat conversations proto proto-check lint bench bench-peers bench-retrieval-1m profile lock clean install tools compose-check deploy-check intent-model browser catalog test-index

UV := .tools/uv/bin/uv
MEMBERS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)

$(STAMP): uv.lock pyproject.toml $(MEMBERS) scripts/bootstrap.sh
	scripts/bootstrap.sh

install: $(STAMP)

$(GRPCURL): | $(STAMP)
	scripts/fetch_grpcurl.sh

$(REDIS_LIBS): scripts/fetch_redis_stack.sh | $(STAMP)
	scripts/fetch_redis_stack.sh

$(COMPOSE): | $(STAMP)
	scripts/fetch_compose.sh

tools: $(GRPCURL) $(COMPOSE) $(REDIS_LIBS)

# The CDK / cfn-lint toolchain is heavy: the lock's `deploy` group, synced alone into its own venv
# so images and .venv stay lean.
$(DEPLOY_STAMP): uv.lock | $(STAMP)
	UV_PROJECT_ENVIRONMENT=.venv-deploy UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --only-group deploy --python $${PYTHON:-python3.11}
	touch $@

## browser: Debian's chromium (+ a Japanese font) for the chat page's browser tests, when missing
browser:
	scripts/install_chromium.sh

## up: run the whole local cluster in the foreground (Ctrl-C stops it); fetches grpcurl for the README's probes.
## make up REPLICAS=2: two processes of each gRPC service, balanced per call by the orchestrator
up: $(STAMP) $(GRPCURL) $(REDIS_LIBS)
	REPLICAS=$(or $(REPLICAS),1) $(PY) -m mangaassist.devtools.up

## test: the full suite — stubs fresh, lint clean, unit + integration + end to end. The checks before
## pytest run two at a time (mypy, the CDK synthesis and the index's embedding each keep about one core busy)
test: $(STAMP) $(GRPCURL) $(REDIS_LIBS) browser
	$(MAKE) --no-print-directory -j2 --output-sync=target proto-check lint deploy-check test-index
	$(PY) -m pytest

## unit: the tests under libs/, services/, tools/ and bench/tests/ that start no process and open no server socket (< 1 min)
unit: $(STAMP)
	$(PY) -m pytest -m "not integration" libs services tools bench/tests

## integration: tests that start one real backend or server each (moto, Redis Stack, the Bedrock emulator,
## gRPC/HTTP servers on ephemeral ports): the marked files under libs/, services/, bench/tests/ and tests/
integration: $(STAMP) $(REDIS_LIBS) test-index
	$(PY) -m pytest -m integration

## e2e: the rest of tests/ (the whole local cluster, the browser) and the images' checks that run
## in the main venv (deploy/tests/images; the CDK checks are make deploy-check)
e2e: $(STAMP) $(GRPCURL) $(REDIS_LIBS) browser test-index
	$(PY) -m pytest -m "not integration" tests deploy/tests/images

## chat: stream one answer in the terminal: make chat Q="おすすめのダークファンタジーは？" (URL=ws://host:port/ws: another orchestrator)
chat: $(STAMP)
	$(PY) -m mangaassist.orchestrator.client "$(or $(Q),おすすめのダークファンタジーは？)" $(if $(URL),--url "$(URL)")

## test-index: the retrieval index the tests' cluster loads, built before pytest so no test
## waits for a first embedding (quick when the embeddings are already cached)
test-index: $(STAMP)
	MANGAASSIST_RETRIEVAL_INDEX_DIR=.cache/index $(PY) -m mangaassist.retrieval.ingest

## bench-retrieval-1m: the 1M-document HNSW sweep and the 1M table (long: a 1M graph takes 10-40 min on 2 cores)
bench-retrieval-1m: $(STAMP)
	$(PY) -m bench.retrieval_sweep --size 1000000 --m 32 --ef-construction 200 --exact-max-fraction 0.08 --storage flat,sq8 --ef-search 512,768,1024 --filter-power 0.5,1.0
	$(PY) -m bench.retrieval --sizes 1000000 --ef-search 1024 --filter-power 1.0 --partition-by language --out bench/results/retrieval-1m.json

## catalog: build and save the retrieval index (volume documents, edition vectors, HNSW graph)
catalog: $(STAMP)
	$(PY) -m mangaassist.retrieval.ingest

proto: $(STAMP)
	scripts/gen_proto.sh libs/proto

proto-check: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && scripts/gen_proto.sh "$$tmp" && \
	if diff -r -x __pycache__ "$$tmp/mangaassist" libs/proto/mangaassist >/dev/null; then echo "proto stubs are fresh"; \
	else echo "proto stubs are stale: run 'make proto' and commit libs/proto" >&2; diff -r -x __pycache__ "$$tmp/mangaassist" libs/proto/mangaassist | head -20 >&2; exit 1; fi

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

## bench: end-to-end and per-segment latency, each part's levers, and the side-by-side suites against
## the peers (bench/results/*.json, BENCHMARKS.md); QUICK=1 makes the peers suites CI-sized
bench: $(STAMP) $(REDIS_LIBS) browser test-index
	$(PY) -m bench.conversations.run
	$(PY) -m bench.catalog_sweep
	$(PY) -m bench.e2e
	$(PY) -m bench.mesh_load --open-rates 4,8,16
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m bench.embed_batch
	$(PY) -m bench.resilience
	$(PY) -m bench.intent
	$(PY) -m bench.chat_page
	$(PY) -m bench.retrieval --partition-by language
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m bench.cache
	$(PY) -m bench.inference
	$(PY) -m bench.dataplane
	$(PY) -m bench.resilience_mesh
	$(PY) -m bench.observability
	$(PY) -m bench.detector_mesh
	$(PY) -m bench.peers

## conversations: the hand-written conversation suite (dev and held-out test splits) and the
## catalog sweep through a fresh local cluster (bench/results/conversations.json, catalog_sweep.json)
conversations: $(STAMP) $(REDIS_LIBS) test-index
	$(PY) -m bench.conversations.run
	$(PY) -m bench.catalog_sweep

## bench-peers: only the side-by-side suites (QUICK=1 for CI-sized runs); writes bench/results/peers.json + BENCHMARKS.md
bench-peers: $(STAMP) $(REDIS_LIBS) test-index
	$(PY) -m bench.peers

## intent-model: retrain the intent classifier on the train split (tools/intent-training), write its
## versioned artefact and card into the service's artefacts/
intent-model: $(STAMP)
	$(PY) -m mangaassist.intent_training.train

## profile: drive load through the running mesh (make up) and write the latency report
profile: $(STAMP)
	@$(PY) -m mangaassist.devtools.profile

## lock: re-resolve uv.lock (hashed) after a pyproject's dependencies change; then make install
lock: | $(STAMP)
	$(UV) lock

## compose-check: validate deploy/compose.yaml with the Compose binary (no engine needed)
compose-check: $(COMPOSE)
	$(COMPOSE) -f deploy/compose.yaml config --quiet && echo "deploy/compose.yaml is valid"

## deploy-check: everything under deploy/ offline: compose, image requirements, CDK synth + assertions, cfn-lint
deploy-check: $(STAMP) $(DEPLOY_STAMP) $(COMPOSE) compose-check
	$(PY) deploy/tools/service_requirements.py --check
	cd deploy/tests/cdk && JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 ../../../.venv-deploy/bin/python -m pytest


clean:
	rm -rf .venv .venv-deploy .tools .pytest_cache .mypy_cache .ruff_cache
