# mempg: `make migrate` then `make test`. Everything runs from .venv; with no DATABASE_URL the
# embedded PostgreSQL (data in .pgdata/, or MEMPG_DATA) is started and left running.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MEMPG  := $(BIN)/mempg

.PHONY: migrate test bench bench-full bench-check psql db-stop lint fmt clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev,bench]'
	touch $(STAMP)

migrate: $(STAMP)
	$(MEMPG) apply
	$(MEMPG) status
	$(MEMPG) verify
	@echo
	@echo "Connect with:  make psql   (or: psql \"$$($(MEMPG) db url)\")"

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks (not part of `make test`): quick under 10 minutes on 2 cores; see bench/run.py.
bench: $(STAMP)
	$(BIN)/python -m bench --mode quick

bench-full: $(STAMP)
	$(BIN)/python -m bench --mode full

bench-check: $(STAMP)
	$(BIN)/python -m bench --mode quick --compare bench/results/quick.json --no-write

psql: $(STAMP)
	$(MEMPG) db psql

db-stop: $(STAMP)
	$(MEMPG) db stop

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
