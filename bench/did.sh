#!/usr/bin/env bash
# Callaway & Sant'Anna, not-yet-treated controls: endline vs csdid and diff-diff, in one
# run. Panels: 3,000 counties x 10 waves (unit = county), and 200,000 households x 10
# waves = 2,000,000 rows (unit = household, clustered by its 2,000 counties).
#
#   bash bench/did.sh
#
# Needs PYTHON with csdid and diff-diff (`pip install csdid diff-diff`). csdid on the 2M-row
# panel is given CSDID_TIMEOUT seconds (default 1800) and is reported as a lower bound if
# it does not finish. Results go to bench/results/did.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q -p endline-analysis --example bench_cs
bin="$CARGO_TARGET_DIR/release/examples/bench_cs"
data_dir=${BENCH_DATA:-/tmp/endline-bench}
mkdir -p "$data_dir" bench/results
out=bench/results/did.txt
: > "$out"
run() { # label, timeout, command...
  local label=$1 limit=$2; shift 2
  if /usr/bin/time -v timeout "$limit" "$@" > /tmp/bench_out.txt 2> /tmp/bench_time.txt; then
    cat /tmp/bench_out.txt | tee -a "$out"
  else
    echo "{\"tool\": \"$label\", \"note\": \"did not finish within ${limit}s\"}" | tee -a "$out"
  fi
  echo "$label peak_MB=$(awk -F': ' '/Maximum resident set size/ {print int($2/1024)}' /tmp/bench_time.txt)" | tee -a "$out"
}
for shape in "3000 10 1" "2000 10 100"; do
  set -- $shape
  file="$data_dir/cs_${1}x${2}x${3}.parquet"
  [ -f "$file" ] || "$bin" write "$1" "$2" "$3" "$file"
  echo "== counties=$1 periods=$2 households_per_county=$3" | tee -a "$out"
  run endline 600 "$bin" fit "$file" 3
  run diff-diff 1800 "$PYTHON" bench/peers_cs.py diff-diff "$file" 1
  run csdid "${CSDID_TIMEOUT:-1800}" "$PYTHON" bench/peers_cs.py csdid "$file" 1
done
