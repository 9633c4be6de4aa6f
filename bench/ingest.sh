#!/usr/bin/env bash
# Ingest throughput and peak memory beside polars' own CSV reader on the same files.
#
#   bash bench/ingest.sh [HOUSEHOLDS]     (default 1000000: 1M x 40 columns + ~4M roster rows)
#
# Needs PYTHON with polars. Results go to bench/results/ingest.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q --bin endline
bin="$CARGO_TARGET_DIR/release/endline"
data=${BENCH_DATA:-/tmp/endline-bench}/ingest_$n
mkdir -p "$data" bench/results
[ -f "$data/bench_hh.csv" ] || python3 bench/ingest_data.py "$n" "$data"
out=bench/results/ingest.txt
bytes=$(( $(stat -c %s "$data/bench_hh.csv") + $(stat -c %s "$data/bench_hh-members.csv") ))
echo "== $n households, $(wc -l < "$data/bench_hh-members.csv") roster rows, $((bytes / 1000000)) MB of CSV" | tee "$out"
/usr/bin/time -v "$bin" ingest bench/ingest_survey.yaml "$data/bench_hh.csv" "$data/bench_hh-members.csv" --wave 1 --out "$data/out" > /tmp/ingest_out.txt 2> /tmp/ingest_time.txt
cat /tmp/ingest_out.txt | tee -a "$out"
awk -F': ' '/Elapsed|Maximum resident/ {print "endline " $1 ": " $2}' /tmp/ingest_time.txt | tee -a "$out"
/usr/bin/time -v "$PYTHON" -c "
import sys, time, polars as pl
t = time.perf_counter()
a = pl.read_csv('$data/bench_hh.csv', infer_schema_length=10000)
b = pl.read_csv('$data/bench_hh-members.csv', infer_schema_length=10000)
print(f'polars {pl.__version__} read_csv: {time.perf_counter() - t:.2f} s for {a.height + b.height} rows')
" > /tmp/polars_out.txt 2> /tmp/polars_time.txt
cat /tmp/polars_out.txt | tee -a "$out"
awk -F': ' '/Maximum resident/ {print "polars " $1 ": " $2}' /tmp/polars_time.txt | tee -a "$out"
