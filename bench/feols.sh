#!/usr/bin/env bash
# y ~ x | unit + year with CR1 by county, endline vs pyfixest, in the same run.
#
#   bash bench/feols.sh [ROWS...]        (default: 1000000 5000000)
#
# Needs: a release build of the driver (this script builds it), and Python with
# pyfixest (PYTHON=path/to/python; `pip install pyfixest==0.60.0`). Each tool runs in
# its own process under /usr/bin/time -v, so "peak MB" is that process's maximum RSS:
# reading the Parquet file plus the repeated fits. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=("$@"); [ ${#rows[@]} -gt 0 ] || rows=(1000000 5000000)
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q -p endline-analysis --example bench_feols
bin="$CARGO_TARGET_DIR/release/examples/bench_feols"
mkdir -p bench/results
data_dir=${BENCH_DATA:-/tmp/endline-bench}
mkdir -p "$data_dir"
out=bench/results/feols.txt
: > "$out"
for n in "${rows[@]}"; do
  file="$data_dir/panel_$n.parquet"
  [ -f "$file" ] || "$bin" write "$n" "$file"
  bytes=$(stat -c %s "$file")
  echo "== $n rows ($((bytes / 1000000)) MB Parquet)" | tee -a "$out"
  for tool in endline pyfixest; do
    if [ "$tool" = endline ]; then cmd=("$bin" fit "$file" 3); else cmd=("$PYTHON" bench/pyfixest_feols.py "$file" 3); fi
    /usr/bin/time -v "${cmd[@]}" > /tmp/bench_out.txt 2> /tmp/bench_time.txt
    rss=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' /tmp/bench_time.txt)
    cat /tmp/bench_out.txt | tee -a "$out"
    echo "$tool peak_MB=$rss" | tee -a "$out"
  done
done
