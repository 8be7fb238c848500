#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit tests; integration tests use ../shared when present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Test-only dependencies: the independent PyTorch Fisher reference (tests/calib/reference/fisher_torch.py,
# run by /usr/bin/python3) needs Debian's torch and numpy.
TEST_PKGS=(python3-torch python3-numpy)
bash scripts/apt_install.sh "${TEST_PKGS[@]}"
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
