# Hearth: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Local development: DEBUG on unless the environment says otherwise.
export DEBUG ?= 1

.PHONY: run run-cluster venv migrate demo test test-fast lint format e2e bench bench-room bench-reminders clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Hearth needs $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

## run: set everything up and start the ASGI server, a Celery worker and beat
run: demo
	@bash scripts/run-all.sh

## run-cluster: the production topology on this machine (docs/deploy.md): nginx on :8100 in front of
## 2 uvicorn processes, 2 Celery workers and 1 beat, on the local PostgreSQL and Redis
run-cluster: venv
	@bash scripts/run-cluster.sh

## test: lint, then the whole suite (unit, realtime, processes, browser)
test: lint
	$(BIN)/pytest

test-fast: venv
	$(BIN)/pytest -m "not e2e and not processes"

e2e: venv
	$(BIN)/pytest -m e2e

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(PY) manage.py makemigrations --check --dry-run >/dev/null || { echo "Model changes without a migration: run manage.py makemigrations"; exit 1; }

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: page latency; bench/asgi.py and bench/bare.py are helpers of bench-room, not benchmarks
bench: venv
	@for script in $(filter-out bench/bench_room.py bench/bench_reminders.py,$(wildcard bench/bench_*.py)); do echo "== $$script"; $(PY) $$script || exit 1; done

## bench-room: room delivery through 2 uvicorn processes on Redis vs a bare consumer (needs Redis)
bench-room: venv
	$(PY) bench/bench_room.py

## bench-reminders: 10,000 due reminders sent by 2 Celery workers on Redis to an in-process SMTP server (needs Redis)
bench-reminders: venv
	$(PY) bench/bench_reminders.py

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
