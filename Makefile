# Quick start: `make demo` (main job on the CPU default) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= runs/demo
PIP := $(PY) -m pip install -q --disable-pip-version-check

.PHONY: install test demo bench clean

install: $(STAMP)

# torch goes first (pinned, local CPU wheel), so nothing later can pull a CUDA build.
$(STAMP): requirements.txt requirements-test.txt requirements-parity.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -r requirements.txt -r requirements-test.txt -r requirements-parity.txt
	$(PIP) --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) -m morl_jax.main --config=configs/arith.py --workdir=$(WORKDIR)

clean:
	rm -rf $(VENV) runs .pytest_cache
