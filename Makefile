# fenxiao — see README.md. Every target makes .venv and installs what it needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz bench worker beat lint services venv clean

$(STAMP): requirements.txt requirements-dev.txt scripts/venv.sh
	PY=$(PY) bash scripts/venv.sh

venv: $(STAMP)

run: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/run.sh

services:
	bash scripts/ensure_services.sh

test: $(STAMP) services
	@bash scripts/fonts.sh
	bash scripts/test.sh

worker: $(STAMP)
	$(BIN)/celery -A config worker -l info --concurrency=$${CONCURRENCY:-2}

beat: $(STAMP)
	$(BIN)/python manage.py sync_beat_schedule
	$(BIN)/celery -A config beat -l info

# Schemathesis against a live server (scripts/fuzz.sh): FUZZ_EXAMPLES=N cases per operation.
fuzz: $(STAMP) services
	@bash scripts/fonts.sh
	bash scripts/fuzz.sh

bench: $(STAMP) services
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	bash scripts/lint_structure.sh

clean:
	rm -rf $(VENV) .test-sqlite.db db.sqlite3 .pytest_cache
