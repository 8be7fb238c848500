#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit tests; integration tests use ../shared when present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Test-only dependencies: the independent PyTorch Fisher reference (tests/calib/reference/fisher_torch.py,
# run by /usr/bin/python3) needs Debian's torch and numpy.
TEST_PKGS=(python3-torch python3-numpy)
missing=()
for p in "${TEST_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
