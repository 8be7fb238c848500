#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit tests; integration tests use ../shared when present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Test-only dependencies: the independent PyTorch Fisher reference (tests/calib/reference/fisher_torch.py,
# run by /usr/bin/python3) needs Debian's torch and numpy; python3-venv makes the gguf-py venv below.
TEST_PKGS=(python3-torch python3-numpy python3-venv)
bash scripts/apt_install.sh "${TEST_PKGS[@]}"
# The GGUF block-codec tests (tests/kernels/gguf_blocks_test.cpp) compare with gguf-py, and the SmolLM2
# tokenizer test (tests/tokenizer/smollm2_test.cpp) with Hugging Face's tokenizers, run from the repo's
# .venv. Without PyPI the install fails and those tests skip with a message.
GGUF_PY_VERSION=0.19.0
TOKENIZERS_VERSION=0.23.3
GGUF_PY_PKGS=("gguf==$GGUF_PY_VERSION" numpy "tokenizers==$TOKENIZERS_VERSION")
if [ ! -x .venv/bin/python3 ]; then
  python3 -m venv .venv || echo "test.sh: cannot create .venv; the gguf-py comparison tests will skip" >&2
fi
if [ -x .venv/bin/python3 ] &&
  ! .venv/bin/python3 -c 'import importlib.metadata as m, numpy
assert m.version("gguf") == "'"$GGUF_PY_VERSION"'" and m.version("tokenizers") == "'"$TOKENIZERS_VERSION"'"' 2>/dev/null; then
  .venv/bin/pip install --quiet "${GGUF_PY_PKGS[@]}" ||
    echo "test.sh: pip install ${GGUF_PY_PKGS[*]} failed; the gguf-py comparison tests will skip" >&2
fi
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
