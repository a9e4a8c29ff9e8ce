PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench flows-check flows-graphs i18n clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ozonbot run

test: $(STAMP)
	$(BIN)/ozonbot flows check
	$(BIN)/ozonbot flows test
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/orders.py
	$(BIN)/python bench/telegram.py
	$(BIN)/python bench/ownership.py

flows-check: $(STAMP)
	$(BIN)/ozonbot flows check

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

flows-graphs: $(STAMP)
	$(BIN)/ozonbot flows graph --format mermaid --lang zh --out flows/graphs
	$(BIN)/ozonbot flows graph --format dot --lang zh --out flows/graphs

i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --project ozonbot --version 0.1.0 --no-wrap --sort-by-file -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-wrap --ignore-pot-creation-date
	$(BIN)/pybabel compile -d locales --statistics
	$(BIN)/ozonbot flows check
