#!/usr/bin/env bash
# The shared-model job (was scripts/run.sh before `sqz demo`): set up, build, then calibrate, quantize (SqueezeLLM 3-bit and RTN
# 3-bit) and compare perplexity and decode speed against the unquantized model.
# Default model: ../shared/models/books-6m when present (a real 6.8M-parameter LLaMA trained on books).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

MODEL=${MODEL:-../shared/models/books-6m}
EVAL=${EVAL:-../shared/data/wikitext-2-raw/wiki.test.raw}
CALIB=${CALIB:-../shared/data/calib}
WORK=${WORK:-out/run}
if [ ! -e "$MODEL" ]; then
  echo "run_shared.sh: default model $MODEL not found; set MODEL=..., EVAL=... and CALIB=..." >&2
  exit 1
fi
mkdir -p "$WORK"
SQZ=./build/sqz
$SQZ calibrate "$MODEL" --data "$CALIB"/*.txt -o "$WORK/stats.safetensors" --nsamples 64 --ctx 512
$SQZ quantize "$MODEL" -o "$WORK/squeezellm-3bit" --method squeezellm --bits 3 --stats "$WORK/stats.safetensors"
$SQZ quantize "$MODEL" -o "$WORK/rtn-3bit" --method rtn --bits 3
printf '\n%-16s %10s %12s %12s %14s\n' model bpw perplexity KL_vs_fp16 decode_tok/s
for m in "$MODEL" "$WORK/squeezellm-3bit" "$WORK/rtn-3bit"; do
  bpw=$($SQZ -q inspect "$m" --json | sed -n 's/.*"linear_bpw": *\([0-9.e+-]*\).*/\1/p' | head -1)
  j=$($SQZ -q ppl "$m" --data "$EVAL" --ctx 256 --max-windows 100 --kl-ref "$MODEL" --json)
  ppl=$(echo "$j" | sed -n 's/.*"ppl":\([0-9.e+-]*\).*/\1/p')
  kl=$(echo "$j" | sed -n 's/.*"kl":\([0-9.e+-]*\).*/\1/p')
  tps=$($SQZ -q bench "$m" --json | sed -n 's/.*"decode_tokens_per_s":\([0-9.e+-]*\).*/\1/p')
  printf '%-16s %10.3f %12.3f %12.5f %14.1f\n' "$(basename "$m")" "$bpw" "$ppl" "$kl" "$tps"
done
