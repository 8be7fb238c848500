#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit tests; integration tests use ../shared when present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
