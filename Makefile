# Feature Budget: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
export DEMO_PASSWORD ?= featurebudget
# Two workers by default (the suite's PostgreSQL tests each get their own test database).
PYTEST_ARGS ?= -n 2

.PHONY: install run test lint format migrate bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py seed_demo
	bash scripts/run-dev.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

# Seeds a large company in its own PostgreSQL database (dropped and created afresh) and
# writes bench/RESULTS.md; see README, "Benchmarks". Not part of `make test`.
bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var
