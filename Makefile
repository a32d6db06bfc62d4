# The two commands of the README: `make run` and `make test`. Both set up .venv from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EDITION ?= 2025

# Prefect: embedded local default, offline, state kept inside the project.
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_TELEMETRY_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: run test fuzz venv clean server server-stop deploy worker trigger alerts test-integration bench bench-full

# compileall: pip compiles what it installs, not an editable install's sources, and where
# PYTHONDONTWRITEBYTECODE is set Python never saves their bytecode: every baro command compiled
# them again (~0.15 s of a core). A source edited since is compiled in memory, as before.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	$(BIN)/python -m compileall -q src flows
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/baro run $(EDITION)

# ruff first (a second), then the tests on two workers (pytest-xdist), a module's tests on one
# worker (its module fixtures run once). mypy checks
# meanwhile and reports after the tests: a checkout's first mypy, without .mypy_cache, takes about
# half a minute of a core (later ones a second). The exit code is the tests', else mypy's.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & types=$$!; \
	$(BIN)/python -m pytest -q -n 2 --dist loadfile; tests=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.log; \
	if [ $$tests -ne 0 ]; then exit $$tests; fi; exit $$typed

# The property-based harness (tests/test_fuzz.py) with thousands of examples per property instead of
# make test's few: prints how many were tried per property. Several minutes; FUZZ_EXAMPLES=N to change.
FUZZ_EXAMPLES ?= 1500
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/test_fuzz.py --hypothesis-show-statistics

clean:
	rm -rf $(VENV) .prefect .pytest_cache

# Benchmarks of issue 20, each measurement beside its anchor (bench/README.md; not part of make test).
# bench: the quick variant (small edition, 1e5, the anchors; < 5 min on a quiet 2-core machine) ->
# bench/work/results-quick.md. bench-full: 1e5 and 1e6 and the waves (≲ 25 min) -> bench/results.md.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--sizes 1000 --repeats 1" to try the harness.
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py --variant quick $(BENCH_ARGS)

bench-full: $(STAMP)
	$(BIN)/python bench/run_bench.py --variant full $(BENCH_ARGS)

# ---- Scheduled runs on a Prefect server (README "Scheduled runs"; docs/operations.md) ----------
SERVER_HOST := 127.0.0.1
SERVER_PORT ?= 4200
WORK_POOL   := baro-process
# deploy, worker, trigger and alerts talk to the server of `make server` unless PREFECT_API_URL names another.
deploy worker trigger alerts: export PREFECT_API_URL ?= http://$(SERVER_HOST):$(SERVER_PORT)/api

server: $(STAMP)
	$(BIN)/python -m baro_flows.server start --home $(PREFECT_HOME) --host $(SERVER_HOST) --port $(SERVER_PORT)

server-stop: $(STAMP)
	$(BIN)/python -m baro_flows.server stop --home $(PREFECT_HOME)

# The pull step of prefect.yaml makes workers run the flows in this folder (BARO_PROJECT_DIR).
# Prefect's output goes to .prefect/deploy.log; what it prints is the next commands, with the server's URL.
deploy: $(STAMP)
	BARO_PROJECT_DIR=$(CURDIR) $(BIN)/python -m baro_flows.deploy --pool $(WORK_POOL)

# One Ctrl-C stops it (exit 0). No shell between make and the worker: make prints no "Interrupt".
worker: $(STAMP)
	$(BIN)/python -m baro_flows.worker --pool $(WORK_POOL)

# A run of baro-run/baro-$(EDITION) now, on the server's workers (not in this terminal).
trigger: $(STAMP)
	$(BIN)/prefect deployment run baro-run/baro-$(EDITION)

alerts: $(STAMP)
	$(BIN)/python -m baro_flows.alerts $(WEBHOOK)

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration
