#!/usr/bin/env bash
# `endline power` on the example study's design (issue #22's target: 1,000 replicates in
# under a minute on the 2-core machine): 80 counties × 25 households × 7 waves, three
# adoption years, Callaway & Sant'Anna doubly robust with the corridor covariate, each
# replicate fitted at the planted effect, at zero and at its detection threshold (the MDE
# search), in parallel.
#
#   bash bench/power.sh [REPLICATES]          (default: 1000)
#
# Builds the release binary. Results go to bench/results/power.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-1000}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q -p endline-cli --bin endline
bin="$CARGO_TARGET_DIR/release/endline"
mkdir -p bench/results
out=bench/results/power.txt
{
  echo "== endline power analysis/border_social_workers.yaml --replicates $reps ($(nproc) cores)"
  /usr/bin/time -v "$bin" power analysis/border_social_workers.yaml --replicates "$reps" > /tmp/bench_power.txt 2> /tmp/bench_time.txt
  head -6 /tmp/bench_power.txt
  awk -F': ' '/Elapsed \(wall clock\)/ {print "wall " $2} /Maximum resident set size/ {print "peak_MB " int($2/1024)}' /tmp/bench_time.txt
} | tee "$out"
