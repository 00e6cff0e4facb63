# crwatch — the two commands that must work on a fresh machine: `make run` and `make test`.
SHELL       := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Quiet, offline-friendly Prefect defaults (flows/runtime/environment.py sets them for other entry points).
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_TASKS_DEFAULT_NO_CACHE := true

.PHONY: run test lint bench lock clean bytecode

# pip's "Location ... is ignored" warnings come from this machine's pip.conf, not from us.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]' 2>&1 \
	  | { grep -v '^WARNING: Location' || true; }
	$(PY) -c "import flows.cli.app, prefect, duckdb, trafilatura, py3langid"
	$(MAKE) --no-print-directory bytecode
	touch $(STAMP)

# crwatch's own modules as bytecode (pip compiles the installed packages, not an editable
# project). Python writes these itself on first import, unless PYTHONDONTWRITEBYTECODE is set
# (as on the bench machine): then every command compiled ~60 modules from source, ~0.15 s of a
# 0.3 s read command. Stale files are ignored by Python and rewritten here (cheap when current).
bytecode:
	$(PY) -m compileall -q flows extractors warehouse > /dev/null

## make run: build .venv if needed, then run the main job (seed baseline + configured replays)
run: $(STAMP) bytecode
	$(VENV)/bin/crwatch run

## make test: build .venv if needed, then run the whole test suite
test: $(STAMP)
	$(PY) -m pytest -q -ra

## make lint: ruff, formatting, mypy and the import contracts (docs/ARCHITECTURE.md)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## make bench: the measurements recorded in docs/BENCHMARKS.md (~15 min; needs ../shared/corpus)
bench: $(STAMP)
	$(PY) bench/extraction_eval.py
	$(PY) bench/relevance_eval.py
	$(PY) bench/throughput.py

## make lock: re-pin every transitive dependency after editing pyproject.toml
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	(echo '# Exact versions of every package, installed as constraints by the Makefile.'; \
	 echo '# Regenerate: make lock (after changing pyproject.toml).'; \
	 .lock-venv/bin/pip freeze --exclude-editable | grep -v '^crwatch') > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
