PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: run test bench flows-check flows-graphs i18n clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The benchmarks' peers (aiogram) come from the bench-only extra, in a venv of their own: aiogram
# pins pydantic below the newest, and the bot's own venv must stay what `make test` checked.
$(BENCH_STAMP): pyproject.toml
	test -d $(BENCH_VENV) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

run: $(STAMP)
	$(BIN)/ozonbot run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/ozonbot flows check
	$(BIN)/ozonbot flows test
	sh .ci/ensure-postgresql.sh
	$(BIN)/ozonbot flows test --channel ozon
	$(BIN)/python -m pytest

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/engine.py
	$(BENCH_VENV)/bin/python bench/orders.py
	$(BENCH_VENV)/bin/python bench/mirror.py
	$(BENCH_VENV)/bin/python bench/mirror_retention.py
	$(BENCH_VENV)/bin/python bench/telegram.py
	$(BENCH_VENV)/bin/python bench/nlu.py
	$(BENCH_VENV)/bin/python bench/ownership.py
	$(BENCH_VENV)/bin/python bench/notify.py
	sh .ci/ensure-postgresql.sh
	$(BENCH_VENV)/bin/python bench/pg.py
	$(BENCH_VENV)/bin/python bench/ozonchat.py

flows-check: $(STAMP)
	$(BIN)/ozonbot flows check

clean:
	rm -rf $(VENV) $(BENCH_VENV) *.egg-info .pytest_cache

flows-graphs: $(STAMP)
	$(BIN)/ozonbot flows graph --format mermaid --lang zh --out flows/graphs
	$(BIN)/ozonbot flows graph --format dot --lang zh --out flows/graphs

i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --project ozonbot --version 0.1.0 --no-wrap --sort-by-file -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-wrap --ignore-pot-creation-date
	$(BIN)/pybabel compile -d locales --statistics
	$(BIN)/ozonbot flows check
