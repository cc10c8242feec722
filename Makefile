# One command to run, one to test. Python 3.11+ and (for the Cosmos tests) Node.js 20+ needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COSMOS_SERVER := tests/support/cosmosdb-server
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck bench setup setup-dev node chromium clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

## run: set up and serve the API on the embedded defaults (http://127.0.0.1:7071/docs)
run: setup
	$(PY) -m api

## node: the Cosmos DB protocol server the Cosmos tests run against
node:
	@if [ -f $(COSMOS_SERVER)/package-lock.json ]; then \
		npm ci --prefix $(COSMOS_SERVER) --no-audit --no-fund --loglevel=error; fi

## chromium: Debian's chromium for the chat page's browser tests (Playwright drives it; it never
## downloads a browser of its own). Installed with apt-get when missing (as root, else sudo).
chromium:
	@test -x $(CHROMIUM) || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

lint: setup-dev
	$(VENV)/bin/ruff check .

typecheck: setup-dev
	$(VENV)/bin/mypy

## test: set up, lint, type-check, run every test with coverage
test: setup-dev node chromium lint typecheck
	$(VENV)/bin/pytest --cov --cov-report=term

## bench: the benchmarks (not part of CI); writes bench/results/
bench: setup-dev node
	$(PY) -m bench

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache .coverage
