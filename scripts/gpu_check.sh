#!/usr/bin/env bash
# The one device call of issue #16 (CUDA kernels and the GPU decode path), sized for one call of under
# 6 minutes on an nvidia-h200 machine, leaving time to rerun once:
#   1. the binaries: from .gpu/bundle.tar.xz (made beforehand by scripts/gpu_prepare.sh on a machine without a
#      GPU, carried with carry=[".gpu"]), else built here with CMake if this image has sqz's build
#      dependencies (scripts/setup.sh's Debian packages; a bare CUDA image does not);
#   2. test_cuda: every CUDA kernel against its format's scalar reference, and the engine against the CPU
#      model (gtest, 120 s limit);
#   3. bench_cuda: copy bandwidth; products at the 7B and 70B shapes (us, GB/s, % of copy bandwidth, x cuBLAS
#      fp16); 1-16 tokens; decode of a 7B-shaped random model built on the device; books-6m perplexity on
#      the GPU and the CPU path (only when the bundle carries books-6m; skipped with a message otherwise);
#      200 s limit for all of bench_cuda.
# Prints one table at the end and writes it to $OUT/gpu_check.md (logs: $OUT/test_cuda.log, $OUT/bench.log).
#
#   here:        bash scripts/gpu_prepare.sh
#   device call: run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=420)
set -uo pipefail
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/gpu_check_out}
mkdir -p "$O"
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
MD=$O/gpu_check.md
{
  echo "# gpu_check.sh ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv 2>&1 | head -3
  echo '```'
} > "$MD"

W=/tmp/sqz_gpu
if [ -f .gpu/bundle.tar.xz ]; then
  rm -rf "$W" && mkdir -p "$W" && tar -C "$W" -xJf .gpu/bundle.tar.xz
  BIN=$W/bin
  DATA=$W/data
  echo "binaries: .gpu/bundle.tar.xz (commit $(cat "$W/commit" 2>/dev/null || echo '?'))" | tee -a "$MD"
  # cuBLAS of the device image: the CUDA toolkit's, else the pip wheel's (PyTorch's).
  CUBLAS=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | while read -r d; do
    [ -e "$d/libcublas.so.13" ] && echo "$d"; done | head -1)
  if [ -z "$CUBLAS" ]; then
    CUBLAS=$(find /usr /opt -name 'libcublas.so.13' -printf '%h\n' 2>/dev/null | head -1)
  fi
  LT=$(find /usr /opt -name 'libcublasLt.so.13' -printf '%h\n' 2>/dev/null | head -1)
  export LD_LIBRARY_PATH="$W/lib${CUBLAS:+:$CUBLAS}${LT:+:$LT}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "cuBLAS: ${CUBLAS:-not found} (Lt: ${LT:-not found})" | tee -a "$MD"
else
  echo "no .gpu/bundle.tar.xz: building here" | tee -a "$MD"
  if ! cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DSQZ_CUDA=ON -DSQZ_TESTS=ON -DSQZ_BENCH=ON > "$O/configure.log" 2>&1; then
    echo "configure failed (this image lacks sqz's build dependencies; run scripts/gpu_prepare.sh first and carry .gpu):" | tee -a "$MD"
    tail -5 "$O/configure.log" | tee -a "$MD"
    cat "$MD"
    exit 1
  fi
  cmake --build build-dev -j16 --target test_cuda bench_cuda > "$O/build.log" 2>&1 || { tail -30 "$O/build.log"; exit 1; }
  BIN=build-dev/bin
  mkdir -p "$BIN" && cp build-dev/tests/test_cuda build-dev/bench/bench_cuda "$BIN/"
  DATA=.gpu/data
fi
echo "setup done at $(elapsed) s" | tee -a "$MD"

echo | tee -a "$MD"
echo "## test_cuda" | tee -a "$MD"
timeout 120 "$BIN/test_cuda" --gtest_color=no > "$O/test_cuda.log" 2>&1
TRC=$?
grep -E '^\[  (PASSED|SKIPPED) +\] [0-9]+ test|^\[  FAILED  \] [^(]*$' "$O/test_cuda.log" | tee -a "$MD"
if [ $TRC -ne 0 ]; then
  echo "test_cuda exit code $TRC (124: timed out); first failures:" | tee -a "$MD"
  grep -B2 -A6 -m 8 'Failure' "$O/test_cuda.log" | head -60 | tee -a "$MD"
fi
echo "tests done at $(elapsed) s" | tee -a "$MD"

PPL=()
if [ -f "$DATA/books-6m/model.safetensors" ] && [ -f "$DATA/wiki.test.raw" ]; then
  PPL=(--ppl "$DATA/books-6m" "$DATA/wiki.test.raw" --ppl-windows 200)
else
  echo "books-6m not carried (scripts/gpu_prepare.sh copies it from ../shared): perplexity check skipped" | tee -a "$MD"
fi
timeout 200 "$BIN/bench_cuda" --out "$O/bench.md" "${PPL[@]}" > "$O/bench.log" 2>&1
BRC=$?
[ $BRC -ne 0 ] && { echo "bench_cuda exit code $BRC (124: timed out); last lines:"; tail -15 "$O/bench.log"; } | tee -a "$MD"
echo | tee -a "$MD"
[ -f "$O/bench.md" ] && cat "$O/bench.md" >> "$MD"
echo | tee -a "$MD"
echo "total $(elapsed) s" >> "$MD"
echo "==================== gpu_check.md ===================="
cat "$MD"
[ $TRC -eq 0 ] && [ $BRC -eq 0 ]
