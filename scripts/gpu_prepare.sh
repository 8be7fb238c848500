#!/usr/bin/env bash
# Prepares the single device call of scripts/gpu_check.sh, on a machine without a GPU (nvcc 13 and the
# Debian packages of scripts/setup.sh needed): builds test_cuda and bench_cuda here (portable x86-64,
# SQZ_NATIVE=OFF; CUDA sm_90 + PTX; the CUDA runtime linked statically) and packs them into
# .gpu/bundle.tar.xz with
#   - the shared libraries they load that a CUDA image may lack (OpenBLAS, fmt, SentencePiece, PCRE2,
#     protobuf-lite, libgomp, libgfortran, ...); not glibc, libstdc++, libgcc_s, the driver or cuBLAS, which
#     the device image has (gpu_check.sh finds its libcublas.so.13);
#   - books-6m (config, safetensors, tokenizer) and WikiText-2's test text from ../shared when present, for
#     the GPU-vs-CPU perplexity check (the device call carries only the repository: ../shared stays here).
# .gpu/ is ignored by git; name it in the device call's carry:
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=420)
set -euo pipefail
cd "$(dirname "$0")/.."
# SQZ_GPU_BUILD=DIR reuses an already configured CUDA build directory as it is (it must be portable,
# SQZ_NATIVE=OFF, for a device whose CPU differs from this one's).
B=${SQZ_GPU_BUILD:-build-gpu}
if [ -z "${SQZ_GPU_BUILD:-}" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DSQZ_NATIVE=OFF -DSQZ_CUDA=ON -DSQZ_TESTS=ON -DSQZ_BENCH=ON >/dev/null
fi
cmake --build "$B" -j"$(nproc)" --target test_cuda bench_cuda
S=.gpu/stage
rm -rf .gpu
mkdir -p "$S/bin" "$S/lib" "$S/data"
cp "$B/tests/test_cuda" "$B/bench/bench_cuda" "$S/bin/"
for bin in "$S"/bin/*; do ldd "$bin"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    case "$name" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*|libcublas*|libcuda.so*|libcudart*) ;;
      *) cp -L "$path" "$S/lib/$name" ;;
    esac
  done
SHARED=${SQZ_SHARED:-../shared}
if [ -d "$SHARED/models/books-6m" ] && [ -f "$SHARED/data/wikitext-2-raw/wiki.test.raw" ]; then
  mkdir -p "$S/data/books-6m"
  for f in config.json model.safetensors tokenizer.model tokenizer_config.json; do
    [ -f "$SHARED/models/books-6m/$f" ] && cp "$SHARED/models/books-6m/$f" "$S/data/books-6m/"
  done
  cp "$SHARED/data/wikitext-2-raw/wiki.test.raw" "$S/data/"
else
  echo "gpu_prepare.sh: $SHARED/models/books-6m or wiki.test.raw not found; the perplexity check will be skipped" >&2
fi
git rev-parse --short HEAD > "$S/commit" 2>/dev/null || true
tar -C "$S" -cJf .gpu/bundle.tar.xz .
rm -rf "$S"
echo "gpu_prepare.sh: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1) (commit $(git rev-parse --short HEAD 2>/dev/null))"
