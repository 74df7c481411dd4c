#!/bin/bash
# `dvc repro` on the active profile with a UTC timestamp on every output line, for long runs that
# may be interrupted and resumed (the cpu-full profile): append each attempt to one log, then
#   python benchmarks/repro_log_times.py LOG --out results/benchmarks/repro_<profile>_log.json
# sums each stage's wall time over the attempts. Usage: benchmarks/timed_repro.sh >> LOG 2>&1
cd "$(dirname "$0")/.." || exit 1
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
       DVC_NO_ANALYTICS=1 DO_NOT_TRACK=1
echo "START $(date -u +%FT%TZ) $(git rev-parse --short HEAD)"
dvc repro 2>&1 | while IFS= read -r l; do printf '%s %s\n' "$(date -u +%T)" "$l"; done
echo "END $(date -u +%FT%TZ) rc=${PIPESTATUS[0]}"
