# Two commands: `make demo` (set up, run the main job) and `make test` (set up, run every test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SRC    := $(wildcard loopctl tests examples bench)

.PHONY: demo test lint up down venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@scripts/python-venv.sh $(PYTHON) $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy loopctl

# The real parts the tests and the demo talk to: Node.js and git, a Docker Engine, a registry on 127.0.0.1:5000,
# a base image.
up:
	scripts/tools.sh
	scripts/engine.sh up
	scripts/registry.sh up
	scripts/base-image.sh

# Stops only what `up` started (an engine that was already running stays up).
down:
	-scripts/registry.sh down
	-scripts/engine.sh down

test: lint up
	@rc=0; $(BIN)/pytest || rc=$$?; \
	scripts/registry.sh down; \
	if [ -n "$$CI" ]; then scripts/engine.sh down; fi; \
	exit $$rc

demo: $(STAMP)
	@scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
