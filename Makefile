# Two commands on a fresh machine with only Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: messages run test lint typecheck unit bench bench-ingest bench-portal bench-probe bench-report bench-storage clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python -m collector.demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint typecheck unit

# Benchmarks (not tests): each prints its table and ends with `RESULT ratio=<x> goal=<y>`.
bench: bench-ingest bench-portal bench-probe bench-report bench-storage

bench-ingest: $(VENV)/.installed-test   # about 3 minutes
	$(BIN)/python bench/ingest.py

bench-portal: $(VENV)/.installed-test  # about a minute: 2,000 apps, 40 agencies
	$(BIN)/python bench/portal.py

bench-probe: $(VENV)/.installed-test    # about 10 minutes; installs Debian's blackbox exporter and nginx
	$(BIN)/python bench/probe_throughput.py

bench-storage: $(VENV)/.installed-test  # under a minute at the default size
	$(BIN)/python bench/storage.py

bench-report: $(VENV)/.installed-test   # about 25 minutes: 44.6 million results
	$(BIN)/python bench/report.py

# After changing a text in code or templates: extract it (collector/locale/pantau.pot) and add it
# to each language's .po, then translate it in collector/locale/id/LC_MESSAGES/pantau.po.
messages: $(VENV)/.installed-test
	$(BIN)/python -m collector.i18n_catalog

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
