# scim-bridge — the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: run test check lint typecheck imports audit pytest bench fmt clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: install, migrate SQLite, create a token, serve the SCIM API on http://$(HOST):$(PORT)/scim/v2
run: $(STAMP)
	$(BIN)/scim-bridge quickstart --host $(HOST) --port $(PORT)

## test: lint, type-check, dependency contracts, then the whole pytest suite
test: check pytest

check: lint typecheck imports audit

lint: $(STAMP)
	$(BIN)/ruff check scim_bridge tests bench scripts
	$(BIN)/ruff format --check scim_bridge tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# audit (issue 14): known vulnerabilities in the installed dependencies, by pip-audit. It
# needs vulnerability data from the network (OSV, or PyPI's JSON API): scripts/
# dependency_audit.py probes both for a few seconds, audits against the first that answers,
# and fails on any vulnerability. Offline (or behind a mirror that serves no JSON API, where
# pip-audit would audit nothing and still say "no known vulnerabilities") it prints BLOCKED
# and passes, so an offline build is not red; AUDIT_STRICT=1 (CI with network) fails then.
audit: $(STAMP)
	$(BIN)/python scripts/dependency_audit.py $(if $(AUDIT_STRICT),--strict,)

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: every benchmark at full size (hours), then docs/benchmarks.md's summary;
## BENCH_ARGS=--quick for a smoke run, --only NAME,... for some (bench/run_all.py --list)
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

fmt: $(STAMP)
	$(BIN)/ruff format scim_bridge tests bench
	$(BIN)/ruff check --fix scim_bridge tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
