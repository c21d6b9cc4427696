# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/motiongpt demo --workdir runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=10

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m slow

clean:
	rm -rf $(VENV) runs
