# One command to run, one to test; both create the virtual environment when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: build run test lint format demo validate calibrate clean chromium bench-render fuzz bench-concurrency

# (the install also compiles the simulator's engine and decode loop, about a minute: setup.py)
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,nvidia-data]'
	touch $(STAMP)

# The compiled modules again after an edit of planner/sim/engine.py or planner/model/typed.py (until then that
# source runs as Python: planner/__init__.py)
build: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -e .

# The main job: the web app on the embedded default scenario (http://localhost:8501): `streamlit run app.py`
# with the app's imports and the default scenario's tables done before the first visitor (app_pages/serve.py)
run: $(STAMP)
	$(BIN)/python -m app_pages.serve

test: $(STAMP) chromium
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered

# Lint (README "Code quality"): ruff's rules, mypy against its baseline (may only shrink), the layers
# contract (import-linter); about a minute
lint: $(STAMP)
	$(BIN)/python -m ruff check planner tests app_pages app.py scripts setup.py
	$(BIN)/python -m ruff format --check planner tests app_pages app.py scripts setup.py
	$(BIN)/python scripts/mypy_baseline.py
	$(BIN)/lint-imports

# The formatter (ruff format, line length 120); `make lint` checks that it leaves every file unchanged
format: $(STAMP)
	$(BIN)/python -m ruff format planner tests app_pages app.py scripts setup.py

# The browser tests need Debian's Chromium (`playwright install` cannot download browsers here).
# As root (CI) it is installed when missing; otherwise say how, and the tests skip (fail when CI=true).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "note: /usr/bin/chromium missing (sudo apt-get install chromium); browser tests will not run"; fi; }

# The Compare page's re-render time in the browser after a widget change
bench-render: $(STAMP) chromium
	$(BIN)/python -m tests.e2e.bench_render

# A long fuzzing pass over every untrusted input (the test suite runs 2,000 cases per input type)
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	PLANNER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py -q -s -p no:cacheprovider

# 20 browser sessions opening the app at once: time to the first result
bench-concurrency: $(STAMP) chromium
	$(BIN)/python -m tests.e2e.bench_concurrency --sessions 20

validate: $(STAMP)
	$(BIN)/python -m planner validate --loo

calibrate: $(STAMP)
	$(BIN)/python -m planner calibrate

clean:
	rm -rf $(VENV) .pytest_cache
