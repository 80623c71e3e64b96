# Self-installing targets: each creates/updates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch is pinned here (a CPU build); pyproject accepts a range so Colab's torch is kept.
TORCH_PIN := torch==2.13.0
# Where torch comes from; e.g. https://download.pytorch.org/whl/cpu where PyPI would give a CUDA build.
TORCH_INDEX ?=
# Installed without its dependencies, which would pull an unpinned (CUDA) torch.
NO_DEPS_PINS := anticapt==1.0
PROFILE ?= demo
DEVICE ?= auto
# Chapters (`make run`) and teaching gLMs (`make pretrain`) side by side (two one-thread runs beat one two-thread run on 2 cores).
JOBS ?= 2
PYTEST_ARGS ?=

.PHONY: venv test book fetch pretrain run build publish bench chromium clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH_PIN)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) install --quiet -e ".[test,book]"
	$(PIP) install --quiet --no-deps $(NO_DEPS_PINS)
	touch $@

venv: $(VENV)/.installed

# Headless Chromium renders the built book in the tests (Debian package).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: venv chromium
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

fetch: venv
	$(PY) -m glmeval_utils fetch --profile $(PROFILE)

pretrain: venv
	HF_HUB_OFFLINE=1 $(PY) -m glmeval_utils pretrain --profile $(PROFILE) --jobs $(JOBS)

run: venv
	HF_HUB_OFFLINE=1 $(PY) -m glmeval_utils run --profile $(PROFILE) --device $(DEVICE) --jobs $(JOBS)

build: venv
	$(PY) -m glmeval_utils build

book: fetch pretrain run build

# Pushes book/_build/html to the gh-pages branch (GitHub Pages); PUBLISH_ARGS=--dry-run lists the files.
PUBLISH_ARGS ?=
publish: venv
	$(PY) -m glmeval_utils publish $(PUBLISH_ARGS)

bench: venv
	HF_HUB_OFFLINE=1 $(PY) benchmarks/embed_throughput.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/zeroshot_throughput.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/trained_cache.py
	$(PY) benchmarks/contention.py
	$(PY) benchmarks/chapter_jobs.py
	$(PY) benchmarks/cnn_probe.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/pretrain_jobs.py

clean:
	rm -rf book/_build book/executed results .pytest_cache
