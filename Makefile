# BookMe: `make run` serves the app with everything it needs; `make test` runs the test suite.
# Both work on a fresh machine with only Python 3.11+: the venv is created and the project
# installed on first use, and again only when pyproject.toml changes.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Branch coverage floor for `make test`: the measured total (about 91%) minus a small margin.
COVERAGE_MIN ?= 85
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint clean-data

help:
	@echo "make run    serve BookMe on \$$PORT (default 8000) with a worker and the scheduler;"
	@echo "            embedded PostgreSQL and Redis in .data/ unless DATABASE_URL/REDIS_URL are set"
	@echo "make test   the test suite with branch coverage (floor $(COVERAGE_MIN)%)"
	@echo "make lint   ruff"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "BookMe needs Python 3.11+; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check --quiet --editable '.[dev]'
	@touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(PY) -m bookme.devserver

test: $(INSTALLED)
	$(PY) -m pytest --cov=bookme --cov-branch --cov-report=term --cov-fail-under=$(COVERAGE_MIN) \
		--durations=15 $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check bookme tests bench
	$(VENV)/bin/ruff format --check bookme tests bench

# Stops nothing: run it only when `make run` is not running.
clean-data:
	rm -rf .data
