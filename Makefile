# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: run test lint unit browser bench bench-quick load sample clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime  ## open the lab on the bundled sample world
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: $(VENV)/.dev  ## lint + every test, browser tests included
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .

unit: $(VENV)/.dev  ## everything but the browser tests
	$(BIN)/python -m pytest -m "not browser"

browser: $(VENV)/.dev
	$(BIN)/python -m pytest -m browser

bench: $(VENV)/.runtime  ## performance table (takes minutes)
	$(BIN)/python -m benchmarks

bench-quick: $(VENV)/.runtime
	$(BIN)/python -m benchmarks --quick

load: $(VENV)/.dev  ## full concurrent-sessions load test (≥ 60 s)
	LOAD_SECONDS=60 LOAD_SESSIONS=10 $(BIN)/python -m pytest -m load -s

sample: $(VENV)/.runtime  ## regenerate the bundled sample world
	$(BIN)/python -m ranking synth --out data/sample --users 600 --items 300 --interactions 24000 --seed 0 --no-truth

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs artifacts
