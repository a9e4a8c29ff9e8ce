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
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/engine.py

flows-check: $(STAMP)
	$(BIN)/ozonbot flows check

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
