#!/usr/bin/env bash
# Installs the Debian packages sqz needs and builds it into build/ (Release, -march=native unless
# SQZ_NATIVE=OFF is set in the environment).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config libopenblas-dev libsentencepiece-dev sentencepiece nlohmann-json3-dev
      libcli11-dev libfmt-dev libpcre2-dev libgtest-dev libgmock-dev libbenchmark-dev gnuplot-nox
      bible-kjv)
bash scripts/apt_install.sh "${PKGS[@]}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSQZ_NATIVE="${SQZ_NATIVE:-ON}" >/dev/null
cmake --build build -j"$(nproc)"
