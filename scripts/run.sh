#!/usr/bin/env bash
# The main job on a fresh machine: set up (Debian packages, including bible-kjv for the text), build, then
# `sqz demo`: train a tiny LLaMA on the King James Bible, calibrate it, quantize it with SqueezeLLM and the
# baselines (RTN, GPTQ, AWQ, NF4 at 3/4 bits, SmoothQuant at 8) and print the comparison table.
# About 6-7 minutes on 2 cores (5 of them training). The job on the shared books-6m model is scripts/run_shared.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/sqz demo -o "${WORK:-out/demo}" --minutes "${MINUTES:-5}"
