# Set-up is part of every target: a fresh clone needs only Python >= 3.10.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
LINT_PATHS := jepa_core plugins tests benchmarks examples

.PHONY: demo demo-ijepa demo-video demo-audio lint test bench docs clean

demo: $(STAMP)  ## the main job: the image demo with LeJEPA, token views of colour-jittered crops (times: docs/results.md)
	$(VENV)/bin/jepa train --plugin image --preset lejepa_demo --out runs/lejepa_demo

demo-ijepa: $(STAMP)  ## the same data and ViT trained with I-JEPA (the image plugin's demo preset)
	$(VENV)/bin/jepa train --plugin image --preset demo --out runs/demo

demo-video: $(STAMP)  ## the video plugin's CPU demo (V-JEPA on synthetic motion)
	$(VENV)/bin/jepa train --plugin video --preset demo --out runs/video_demo

demo-audio: $(STAMP)  ## the audio plugin's CPU demo (spectrogram JEPA on synthetic sounds)
	$(VENV)/bin/jepa train --plugin audio --preset demo --out runs/audio_demo

lint: $(STAMP)  ## ruff (lint rules and formatting) on all the code, mypy on jepa_core
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy jepa_core

test: $(STAMP) lint  ## lint, then the whole test suite in two processes of one thread each (CI runs this)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist load --maxschedchunk 1

bench: $(STAMP)  ## CPU benchmarks (pytest-benchmark)
	$(PY) -m pytest -q benchmarks --benchmark-enable

docs: $(DOCS_STAMP)  ## the documentation site in site/ (CI builds it; --strict: no broken links or references)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache site
