# crwatch — the two commands that must work on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Quiet, offline-friendly Prefect defaults (also set in flows/settings.py for other entry points).
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_TASKS_DEFAULT_NO_CACHE := true

.PHONY: run test lint bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade-strategy only-if-needed -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## make run: build .venv if needed, then run the main job (seed baseline + configured replays)
run: $(STAMP)
	$(VENV)/bin/crwatch run

## make test: build .venv if needed, then run the whole test suite
test: $(STAMP)
	$(PY) -m pytest -q -ra

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/extraction_eval.py
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
