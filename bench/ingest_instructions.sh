#!/usr/bin/env bash
# Instructions executed by one ingest of the benchmark export, counted by callgrind: a
# measure that does not move with the load on a shared machine (wall times here vary by
# ±20%), for comparing two builds of ingest. Not a speed figure: see bench/ingest.sh.
#
#   bash bench/ingest_instructions.sh [HOUSEHOLDS]     (default 50000: ~25 MB of CSV, two batches)
#
# Needs valgrind (apt install valgrind). Prints the total and the largest parts (the
# writing threads' shares add up over the tables, written side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q --bin endline
data=${BENCH_DATA:-/tmp/endline-bench}/ingest_$n
mkdir -p "$data"
[ -f "$data/bench_hh.csv" ] || python3 bench/ingest_data.py "$n" "$data"
profile=$(mktemp)
trap 'rm -f "$profile"' EXIT
rm -rf "$data/out"  # builds of every version write here (endline replaces only its own output)
valgrind --tool=callgrind --callgrind-out-file="$profile" "$CARGO_TARGET_DIR/release/endline" ingest \
  bench/ingest_survey.yaml "$data/bench_hh.csv" "$data/bench_hh-members.csv" --wave 1 --out "$data/out" \
  2>&1 | grep -o "Collected : [0-9]*" | sed 's/Collected :/instructions:/'
# Inclusive counts of the stages: checking (of which typing answers), writing (of which
# building the columns, and zstd), and reading (of which the CSV reader).
callgrind_annotate --inclusive=yes "$profile" 2>/dev/null |
  grep -E "Layout::check_after \[|ingest::parse_answer \[|write::add_table \[|write::columns \[|ZSTD_compress2 \[|stream::stream \[|CsvReader<R>::read_record \[" |
  sed -E 's/ \[[^]]*\]$//; s/\?\?\?://'
