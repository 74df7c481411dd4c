# The companion's commands. Everything runs inside .venv (created by `make setup`).
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
LAB_DIR ?= .
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1

.PHONY: help setup repro profile test test-fast lint lab lock bench bench-repro gpu-check screenshots
.DEFAULT_GOAL := help

help:             ## this list
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/:[^#]*## /\t/' | awk -F'\t' '{printf "  make %-12s %s\n", $$1, $$2}'

setup:            ## venv + pinned CPU stack + offline asset packages + self-check (idempotent)
	bash scripts/setup.sh

repro:            ## the whole pipeline on the active profile (default: mini)
	$(BIN)/dvc repro

profile:          ## switch the active profile: make profile P=ci|mini|cpu-full|paper
	$(BIN)/python -m z1.config set-profile $(P)

test:             ## unit tests + every notebook executed by papermill/dvc on the ci profile
	$(BIN)/python -m pytest -q

test-fast:        ## unit tests only (skips the slow real-model and pipeline tests)
	$(BIN)/python -m pytest -q -m "not slow"

lint:             ## ruff over lib, tests, benchmarks and notebooks
	$(BIN)/ruff check lib tests benchmarks notebooks

lab:              ## JupyterLab on 127.0.0.1 with the project's kernel; more: make lab LAB_ARGS="--port 8899" LAB_DIR=notebooks
	@test -f $(VENV)/share/jupyter/kernels/python3/kernel.json || { echo "no project kernel: run make setup" >&2; exit 1; }
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,) --notebook-dir $(LAB_DIR) $(LAB_ARGS)

screenshots:      ## JupyterLab screenshots of the explore notebooks on the active profile (results/screenshots/)
	$(BIN)/python scripts/screenshots.py

bench:            ## fresh-clone timings: setup, no-op repro, ci pipeline (writes results/benchmarks/foundation.json)
	$(BIN)/python benchmarks/bench_foundation.py

bench-repro:      ## stage timings of a cold `dvc repro` on the active profile (writes results/benchmarks/repro_<profile>.json)
	$(BIN)/python benchmarks/bench_repro.py

gpu-check:        ## CUDA paths at toy size: FSDP bf16 SFT, both engines' STW (writes results/benchmarks/gpu_check.json; skips without CUDA); more: GPU_CHECK_ARGS="--tokenizer DIR"
	$(BIN)/python scripts/gpu_check.py $(GPU_CHECK_ARGS)

lock:             ## re-resolve requirements*.txt and rewrite requirements.lock (needs the registries)
	bash scripts/lock.sh
