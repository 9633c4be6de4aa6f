#!/usr/bin/env bash
# Registers (issue #23): on household panels of 1e6, 1e7 and 1e8 rows (10 years; 1e9 too
# when asked), written by the example bench_scale (deterministic, 5,000 counties):
#   twfe: endline estimate "income ~ treat_post | household_id + year" --vcov cluster:county_id
#   cs:   endline did --method cs --control notyet --est-method dr --cluster county_id
# each streamed (--engine stream) and in memory (--engine memory; not at 1e9, which does
# not fit), the file in the page cache (read once first). Wall time and peak resident
# memory from /usr/bin/time: streamed runs ROUNDS times (default 3; the median wall time
# and the largest peak), in memory once; the two paths' estimates and standard errors
# compared.
#
#   bash bench/scale.sh [ROWS ...]        # default: 1000000 10000000 100000000
#   ENGINES=stream ROUNDS=5 bash bench/scale.sh 100000000    # the streamed paths alone
#
# Results: appended to bench/results/scale.txt (a header line per run of the script, then
# a line per configuration) and the JSON outputs in
# $BENCH_DATA (default /tmp/endline-scale; 1e9 rows take 8.1 GB of disk).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
# One build of both (built apart, their dependencies' features differ and polars builds twice).
cargo build --release -q -p endline-cli -p endline-analysis --bin endline --example bench_scale
gen="$CARGO_TARGET_DIR/release/examples/bench_scale"
bin="$CARGO_TARGET_DIR/release/endline"
data=${BENCH_DATA:-/tmp/endline-scale}
mkdir -p "$data" bench/results
out=bench/results/scale.txt
echo "# $(date -u +%Y-%m-%d) ROUNDS=${ROUNDS:-3} ENGINES=${ENGINES:-stream memory} rows: ${*:-1000000 10000000 100000000}" >> "$out"
sizes=${*:-1000000 10000000 100000000}
for n in $sizes; do
  file="$data/rows_$n.parquet"
  [ -f "$file" ] || "$gen" $((n / 10)) 10 "$file"
  cat "$file" > /dev/null
  for engine in ${ENGINES:-stream memory}; do
    if [ "$engine" = memory ] && [ "$n" -gt 100000000 ]; then continue; fi
    for model in twfe cs; do
      json="$data/${model}_${n}_${engine}.json"
      if [ "$model" = twfe ]; then
        cmd=("$bin" estimate "$file" -f "income ~ treat_post | household_id + year" --vcov cluster:county_id)
      else
        cmd=("$bin" did "$file" --outcome income --unit household_id --time year --cohort first_treat
             --method cs --control notyet --est-method dr --cluster county_id)
      fi
      # Streamed runs ROUNDS times (a shared machine's single runs vary by a third): the
      # median wall time and the largest peak; in memory once.
      rounds=1
      if [ "$engine" = stream ]; then rounds=${ROUNDS:-3}; fi
      : > "$data/runs.txt"
      for _ in $(seq "$rounds"); do
        /usr/bin/time -f "%e %M" -o "$data/time.txt" "${cmd[@]}" --engine "$engine" --format json > "$json"
        cat "$data/time.txt" >> "$data/runs.txt"
      done
      read -r wall peak < <(sort -n "$data/runs.txt" | awk '{w[NR] = $1; if ($2 > p) p = $2}
        END {printf "%.2f %d\n", w[int((NR + 1) / 2)], p / 1024}')
      echo "rows=$n model=$model engine=$engine rounds=$rounds wall_s=$wall peak_MB=$peak" | tee -a "$out"
    done
  done
  if [ -f "$data/twfe_${n}_memory.json" ]; then
    "$PYTHON" - "$data" "$n" <<'PY' | tee -a "$out"
import json, sys
d, n = sys.argv[1], sys.argv[2]
def load(m, e):
    return json.load(open(f"{d}/{m}_{n}_{e}.json"))
s, m = load("twfe", "stream"), load("twfe", "memory")
tw = max(max(abs(a[k] - b[k]) / abs(b[k]) for k in ("estimate", "std_error"))
         for a, b in zip(s["coefficients"], m["coefficients"]))
s, m = load("cs", "stream"), load("cs", "memory")
cells = list(zip(s["att_gt"], m["att_gt"]))
att = max(abs(a["att"] - b["att"]) / abs(b["att"]) for a, b in cells)
se = max(abs(a["std_error"] - b["std_error"]) / b["std_error"] for a, b in cells)
agg = s["aggregate"]["simple"], m["aggregate"]["simple"]
simple = max(abs(agg[0][k] - agg[1][k]) / abs(agg[1][k]) for k in ("att", "std_error"))
print(f"rows={n} stream vs memory, largest relative difference: twfe {tw:.1e}; "
      f"cs ATT(g,t) {att:.1e}, their se {se:.1e}, simple ATT and se {simple:.1e}")
PY
  fi
done
