#!/usr/bin/env bash
# Design-based standard errors against the unweighted fit (issue #21's target: less than
# twice its cost), y ~ x + z on a synthetic two-stage household sample (20 strata, 100
# villages each, FPC), the design built from its columns included.
#
#   bash bench/design.sh [HOUSEHOLDS...]        (default: 1000000)
#
# Needs only a release build of the driver (this script builds it). Results go to
# bench/results/design.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=("$@"); [ ${#rows[@]} -gt 0 ] || rows=(1000000)
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q -p endline-analysis --example bench_design
bin="$CARGO_TARGET_DIR/release/examples/bench_design"
mkdir -p bench/results
data_dir=${BENCH_DATA:-/tmp/endline-bench}
mkdir -p "$data_dir"
out=bench/results/design.txt
: > "$out"
for n in "${rows[@]}"; do
  file="$data_dir/design_$n.parquet"
  [ -f "$file" ] || "$bin" write "$n" "$file"
  echo "== $n households" | tee -a "$out"
  /usr/bin/time -v "$bin" fit "$file" 5 > /tmp/bench_out.txt 2> /tmp/bench_time.txt
  cat /tmp/bench_out.txt | tee -a "$out"
  echo "peak_MB=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' /tmp/bench_time.txt)" | tee -a "$out"
done
