# `make demo` and `make test` create .venv when it is missing (or when requirements changed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: demo test bench lint clean fuzz

$(STAMP): requirements.txt pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/harness run suites/quickstart.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q tests plugins benchmarks --benchmark-disable

# Benchmarks for real (side by side with their peers); docs quote the ratios they print.
bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=min,mean,stddev,rounds --benchmark-group-by=group

lint: $(STAMP)
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks

# The nightly regression corpus (tests/fuzz): 1,200 generated bad inputs as harness subprocesses;
# summary in results/fuzz/summary.json, exit 1 on any traceback, crash or unreported difference.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.nightly --count $(or $(FUZZ_COUNT),1200) --out results/fuzz
