# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/motiongpt demo --workdir runs/demo

# Large allocations on transparent huge pages (see motiongpt_jax/launcher.py), in every process.
export GLIBC_TUNABLES := glibc.malloc.hugetlb=1

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=25

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m slow

# Every JAX-vs-PyTorch benchmark, interleaved, and one table of ratios (30-52 min on 2 cores).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py --out bench/summary.md

clean:
	rm -rf $(VENV) runs
