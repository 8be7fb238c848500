#!/usr/bin/env bash
# A/B of two bench_kernels binaries in one run: alternates them ROUNDS times on the same benchmarks and
# prints, per benchmark, the best time of each and the change (negative = B faster).
# usage: bench/ab_kernels.sh A_BINARY B_BINARY [ROUNDS=2] [FILTER=-BM_Gem.Gguf]   (results also in ab_kernels.json)
set -euo pipefail
A=${1:?usage: ab_kernels.sh A_BINARY B_BINARY [ROUNDS] [FILTER]} B=${2:?usage: ab_kernels.sh A_BINARY B_BINARY [ROUNDS] [FILTER]}
ROUNDS=${3:-2} FILTER=${4:--BM_Gem.Gguf}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$ROUNDS"); do
  for side in A B; do
    bin=${!side}
    echo "round $r/$ROUNDS: $side ($bin)" >&2
    "$bin" --benchmark_filter="$FILTER" --benchmark_min_time=${MIN_TIME:-0.2} --benchmark_out="$tmp/$side.$r.json" --benchmark_out_format=json >/dev/null
  done
done
python3 - "$tmp" "$ROUNDS" <<'PY'
import json, sys, glob, os
d, rounds = sys.argv[1], int(sys.argv[2])
best = {"A": {}, "B": {}}
order = []
for side in "AB":
    for f in sorted(glob.glob(os.path.join(d, side + ".*.json"))):
        for b in json.load(open(f))["benchmarks"]:
            k = b["name"]
            if k not in order: order.append(k)
            t = b["real_time"] * {"ns": 1e-3, "us": 1, "ms": 1e3}[b["time_unit"]]
            best[side][k] = min(best[side].get(k, t), t)
rows = [(k, best["A"][k], best["B"][k]) for k in order if k in best["A"] and k in best["B"]]
print("| benchmark | A best µs | B best µs | change |")
print("|---|---:|---:|---:|")
for k, a, b in rows: print(f"| {k} | {a:.1f} | {b:.1f} | {100*(b-a)/a:+.1f}% |")
json.dump([{"name": k, "a_us": a, "b_us": b} for k, a, b in rows], open("ab_kernels.json", "w"), indent=1)
PY
