# Two commands: `make demo` (set up, run the main job) and `make test` (set up, run every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SRC    := loopctl tests examples bench

.PHONY: demo test lint unit venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@scripts/python-venv.sh $(PYTHON) $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy loopctl

test: lint
	$(BIN)/pytest

demo: $(STAMP)
	@scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
