# ds2ray: two commands on a fresh machine.
#   make demo   installs what it needs, then runs the main job on its embedded default
#   make test   installs what it needs, then runs the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KENLM_HOME ?= $(HOME)/.cache/ds2ray/kenlm
KENLM_VERSION ?= 0.3.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# TTS voices (festival + its free English voices) and free English text (jobs/english) come from
# Debian main too: see ds2ray/data/english_text.py and ds2ray/data/corpora/tts.py for the licences.
APT_PACKAGES := espeak-ng sox libsox-fmt-all libopus0 flite chromium cmake build-essential ninja-build \
	libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev \
	zlib1g-dev libbz2-dev liblzma-dev \
	festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	wordnet-base dict-gcide sword-text-web diatheke fortunes-min
DEMO_ARGS ?=
TEST_ARGS ?=

.PHONY: setup apt venv kenlm gru decoder demo test bench gpu-check clean-venv help

help:
	@echo "make demo    install everything, then run the demo job (synthetic corpus on a local Ray)"
	@echo "make test    install everything, then run the tests"
	@echo "make setup   install only (idempotent: a re-run takes seconds)"
	@echo "make bench   run the benchmarks in bench/"
	@echo "make gpu-check  every GPU path measured in <= 8 min (a CPU dry run without a GPU)"

setup: apt venv kenlm gru decoder

apt:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then :; else \
		echo "== installing Debian packages: $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@echo "== creating $(VENV) and installing ds2ray[dev,tts]"
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip setuptools wheel
	@$(PY) -m pip install -q torch==2.13.0
	@$(PY) -m pip install -q -e '.[dev,tts]'
	@touch $@

# KenLM's lmplz and build_binary are in no Debian or PyPI package: build them from the kenlm sdist
# into a cache outside the repo, once.
kenlm: $(KENLM_HOME)/bin/lmplz

$(KENLM_HOME)/bin/lmplz: | venv
	@echo "== building KenLM lmplz/build_binary into $(KENLM_HOME) (about 2 minutes, once)"
	@set -e; tmp=$$(mktemp -d); \
	$(PY) -m pip download -q --no-binary kenlm --no-deps kenlm==$(KENLM_VERSION) -d $$tmp; \
	tar xzf $$tmp/kenlm-*.tar.gz -C $$tmp; src=$$(ls -d $$tmp/kenlm-*/); \
	mkdir -p $$src/build; cd $$src/build; \
	cmake .. -DCMAKE_BUILD_TYPE=Release >/dev/null; \
	make -j$$(nproc) lmplz build_binary >/dev/null; \
	mkdir -p $(KENLM_HOME)/bin.tmp; cp bin/lmplz bin/build_binary $(KENLM_HOME)/bin.tmp/; \
	rm -rf $(KENLM_HOME)/bin; mv $(KENLM_HOME)/bin.tmp $(KENLM_HOME)/bin; rm -rf $$tmp
	@echo "== KenLM binaries in $(KENLM_HOME)/bin"

# The C++ GRU time loop of CPU training (ds2ray/model/csrc): built once into torch's extension cache
# (~1 minute); a re-run only checks it. Training falls back to the Python loop if it cannot build.
gru: venv
	@$(PY) -m ds2ray.model.gru_ext

# The compiled beam search (ds2ray/decode/csrc, pybind11): built once into ~/.cache/ds2ray/ext (~30 s);
# a re-run only checks it. Decoding falls back to the Python search (same results) if it cannot build.
decoder: venv
	@$(PY) -m ds2ray.decode.native

demo: setup
	@$(PY) -m jobs.demo $(DEMO_ARGS)

test: setup
	@$(PY) -m pytest $(TEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Training MFU, profile scaling, GPU features, test and serve latency: bench/gpu_check.py. Without a
# CUDA device it is a CPU dry run of the same code (about a minute).
gpu-check: setup
	@$(PY) bench/gpu_check.py

clean-venv:
	rm -rf $(VENV)
