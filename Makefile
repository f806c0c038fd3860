# IoT Platform. `make run` brings everything up with a demo tenant; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export VENV HOST PORT

.PHONY: install help services browser migrate run test test-fast lint bench lock clean
.DEFAULT_GOAL := install

install: $(VENV)/.installed ## the .venv with the pinned dependencies

$(VENV)/.installed: requirements/base.txt requirements/dev.txt requirements/tb.txt scripts/install.sh
	bash scripts/install.sh
	@touch $@

help: ## this list: the targets and what they do (`make` alone runs install)
	@grep -E '^[a-z][a-z_-]*:.*## ' $(firstword $(MAKEFILE_LIST)) \
	  | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

services: ## PostgreSQL+TimescaleDB, Redis and Mosquitto reachable; URLs written to .env
	bash scripts/services.sh

browser: ## Debian's Chromium for the browser tests
	bash scripts/browser.sh

migrate: install services ## apply the database migrations
	$(PY) manage.py migrate --noinput

run: install services ## web (ASGI) + Celery worker + beat in the foreground, demo tenant ready; logs in .logs/
	bash scripts/run.sh

test: install services browser ## the whole suite, slow and browser tests included
	$(PY) -m pytest

test-fast: install services ## everything but the slow and browser tests
	$(PY) -m pytest -m "not slow and not browser"

lint: install ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

bench: install services browser ## ingestion, query, simulator, live, alert, report, MQTT and fault benchmarks (print figures; see README)
	$(PY) bench/ingest.py
	$(PY) bench/query.py
	$(PY) bench/simulator.py
	$(PY) bench/live.py
	$(PY) bench/live.py --background 200
	$(PY) bench/alerts.py
	$(PY) bench/reports.py
	$(PY) bench/mqtt.py
	$(PY) bench/faults.py

lock: ## re-pin requirements/*.txt from requirements/*.in
	$(PY) -m pip install -q uv
	cd requirements && ../$(VENV)/bin/uv pip compile --python-version 3.11 -q --no-header base.in -o base.txt
	cd requirements && ../$(VENV)/bin/uv pip compile --python-version 3.11 -q --no-header dev.in -o dev.txt

clean: ## remove the .venv and the caches
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache
