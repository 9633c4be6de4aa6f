#!/usr/bin/env bash
# Ingest throughput and peak memory beside polars' own CSV reader on the same files.
#
#   bash bench/ingest.sh [HOUSEHOLDS]     (default 1000000: 1M x 40 columns + ~4M roster rows)
#   ROUNDS=2 SHUFFLED=0 bash bench/ingest.sh 10000000    # 10M households, 5 GB of CSV
#
# Millions of households (up to 10M) are copies of the 1M export with renumbered keys.
# SHUFFLED=0 leaves out the run on a shuffled roster. Needs PYTHON with polars. Results
# go to bench/results/ingest.txt (ingest_HOUSEHOLDS.txt for other sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
data_only=0
if [ "${1:-}" = --data-only ]; then data_only=1; shift; fi
n=${1:-1000000}
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q --bin endline
bin="$CARGO_TARGET_DIR/release/endline"
data=${BENCH_DATA:-/tmp/endline-bench}/ingest_$n
mkdir -p "$data" bench/results
if [ ! -f "$data/bench_hh.csv" ]; then
  if [ "$n" -gt 1000000 ] && [ $((n % 1000000)) -eq 0 ] && [ "$n" -le 10000000 ]; then
    # Millions of households: copies of the 1M export, each copy's keys renumbered
    # (HH00… and uuid:00… become HH0k… and uuid:0k… in copy k), in submission order.
    # The same files every time, in a minute rather than the generator's half hour.
    bash "$(pwd)/bench/ingest.sh" --data-only 1000000
    one=${BENCH_DATA:-/tmp/endline-bench}/ingest_1000000
    for f in bench_hh.csv bench_hh-members.csv; do
      head -1 "$one/$f" > "$data/$f"
      for k in $(seq 0 $((n / 1000000 - 1))); do
        tail -n +2 "$one/$f" | sed "s/HH00/HH0$k/; s/uuid:00/uuid:0$k/g" >> "$data/$f"
      done
    done
  else
    python3 bench/ingest_data.py "$n" "$data"
  fi
fi
[ "$data_only" = 1 ] && exit 0
out=bench/results/ingest.txt
[ "$n" = 1000000 ] || out=bench/results/ingest_$n.txt
rounds=${ROUNDS:-3}
bytes=$(( $(stat -c %s "$data/bench_hh.csv") + $(stat -c %s "$data/bench_hh-members.csv") ))
# The same roster in a shuffled order (fixed seed): not in submission order, so ingest
# splits the input on disk by submission before checking it (SHUFFLED=0 leaves it out).
if [ "${SHUFFLED:-1}" = 1 ] && [ ! -f "$data/shuffled/bench_hh-members.csv" ]; then
  mkdir -p "$data/shuffled"
  ln -sf ../bench_hh.csv "$data/shuffled/bench_hh.csv"
  { head -1 "$data/bench_hh-members.csv"; tail -n +2 "$data/bench_hh-members.csv" |
      shuf --random-source=<(yes 2025); } > "$data/shuffled/bench_hh-members.csv"
fi
echo "== $n households, $(( $(wc -l < "$data/bench_hh-members.csv") - 1 )) roster rows, $((bytes / 1000000)) MB of CSV; $rounds rounds, interleaved" | tee "$out"
timed() { # label command...: wall seconds and peak RSS (MB) of one run
  /usr/bin/time -f "%e %M" -o /tmp/bench_time.txt "${@:2}" > /tmp/bench_out.txt 2>&1 || { cat /tmp/bench_out.txt; exit 1; }
  read -r secs kb < /tmp/bench_time.txt
  echo "$1 $secs $((kb / 1024))"
}
for r in $(seq "$rounds"); do
  rm -rf "$data/out"  # builds of every version write here (endline replaces only its own output)
  timed endline "$bin" ingest bench/ingest_survey.yaml "$data/bench_hh.csv" "$data/bench_hh-members.csv" --wave 1 --out "$data/out"
  rm -rf "$data/out-shuffled"  # builds of every version write here (endline replaces only its own output)
  [ "${SHUFFLED:-1}" = 1 ] && timed endline-shuffled "$bin" ingest bench/ingest_survey.yaml "$data/shuffled/bench_hh.csv" "$data/shuffled/bench_hh-members.csv" --wave 1 --out "$data/out-shuffled"
  # polars' time is read_csv's alone (timed inside Python, without its start-up and
  # import); its peak memory is the process's.
  line=$(timed polars "$PYTHON" -c "
import time, polars as pl
t = time.perf_counter()
a = pl.read_csv('$data/bench_hh.csv', infer_schema_length=10000)
b = pl.read_csv('$data/bench_hh-members.csv', infer_schema_length=10000)
print(f'{time.perf_counter() - t:.3f}')")
  echo "polars $(cat /tmp/bench_out.txt) ${line##* }"
done > /tmp/bench_runs.txt
rm -rf "$data/out"  # builds of every version write here (endline replaces only its own output)
"$bin" ingest bench/ingest_survey.yaml "$data/bench_hh.csv" "$data/bench_hh-members.csv" --wave 1 --out "$data/out" | tee -a "$out"
pyver=$("$PYTHON" -c 'import polars; print(polars.__version__)')
# Medians over the rounds; the rate is endline's throughput as a fraction of polars'.
"$PYTHON" - "$((bytes / 1000000))" "$pyver" /tmp/bench_runs.txt <<'EOF' | tee -a "$out"
import statistics, sys
mb, version = int(sys.argv[1]), sys.argv[2]
runs = {}
for line in open(sys.argv[3]):
    who, secs, peak = line.split()
    runs.setdefault(who, []).append((float(secs), int(peak)))
median = {who: statistics.median(s for s, _ in r) for who, r in runs.items()}
print(f"{'':24} {'median s':>9} {'MB/s':>7} {'peak MB':>8} {'rate':>7}")
for who in [w for w in ["endline", "endline-shuffled", "polars"] if w in runs]:
    label = f"polars {version} read_csv" if who == "polars" else who
    rate = "1" if who == "polars" else f"1/{median[who] / median['polars']:.1f}"
    print(f"{label:24} {median[who]:9.2f} {mb / median[who]:7.0f} {max(p for _, p in runs[who]):8d} {rate:>7}")
print("(rate: throughput as a fraction of polars'; the target is 1/2 or better)")
EOF
