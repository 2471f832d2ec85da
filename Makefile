# Set-up and the front-door commands. Everything installs into ./.venv.
# GPU users: make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PYTEST_ARGS ?=
export TORCH_SPEC

.PHONY: demo test venv install install-test lint types pytest wheel-check docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The pinned CPU torch goes in first, so that no dependency pulls a multi-GB CUDA build.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e ".[io,train,serve]"
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/stgraph demo

# make test = lint, types, the suite with coverage (floor in pyproject.toml), the built wheel.
test: lint types pytest wheel-check

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

wheel-check: $(VENV)/.installed-test
	tools/check-wheel $(BIN)/python

# The API reference (HTML, from the docstrings) in build/docs/, then the guide pages' examples.
# Every public package and module is named: pdoc follows a package's __all__, which lists names, not submodules.
DOC_MODULES = $(shell find stgraph -name __init__.py | sed 's|/__init__.py$$||; s|/|.|g' | sort) \
	$(shell find stgraph -name '*.py' ! -name '_*' | sed 's|\.py$$||; s|/|.|g' | sort)
docs: $(VENV)/.installed-test
	rm -rf build/docs/api
	$(BIN)/pdoc --docformat google --math --output-directory build/docs/api $(DOC_MODULES)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/docs
	@echo "API reference: build/docs/api/index.html; guide: docs/guide/"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .coverage build
