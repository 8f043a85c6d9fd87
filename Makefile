# One command for each main job. Both set up everything they need on a fresh machine
# (Python 3.11+ and Go 1.26+ must be installed; see README.md).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test down clean

$(BIN)/kubedirector: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e plugins/kd_hadoop -e plugins/kd_spark -e plugins/kd_tensorflow
	touch $@

## demo: build (first time) and start the local control plane, then run the example on it
demo: $(BIN)/kubedirector
	PATH=$(abspath $(BIN)):$$PATH scripts/demo.sh

## down: stop the operator and the local control plane started by `make demo`
down: $(BIN)/kubedirector
	PATH=$(abspath $(BIN)):$$PATH scripts/demo.sh --stop-operator
	$(BIN)/kubedirector dev down

## test: every check (lint, types, unit, minimum dependencies, plugins, real control plane)
test: $(BIN)/kubedirector
	$(BIN)/tox run

clean:
	rm -rf $(VENV) .tox reports
