#!/usr/bin/env bash
# Two or more builds of endline side by side: ingest of the benchmark export run by each
# in turn, ROUNDS times, printing each run's wall time, CPU time and peak memory, then the
# medians. On a shared machine single runs vary by ±20%; interleaved runs see the same
# moments, so their medians can be compared (bench/README.md, "Ingest").
#
#   bash bench/ingest_ab.sh BINARY BINARY... [-- INGEST OPTIONS]
#
# HOUSEHOLDS (default 1000000) picks the export made by bench/ingest_data.py, as in
# bench/ingest.sh; ROUNDS defaults to 5.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${HOUSEHOLDS:-1000000}
rounds=${ROUNDS:-5}
data=${BENCH_DATA:-/tmp/endline-bench}/ingest_$n
bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do bins+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#bins[@]} -ge 1 ] || { echo "usage: bash bench/ingest_ab.sh BINARY BINARY... [-- OPTIONS]" >&2; exit 2; }
mkdir -p "$data"
[ -f "$data/bench_hh.csv" ] || python3 bench/ingest_data.py "$n" "$data"
times=$(mktemp)
trap 'rm -f "$times" "$times.runs"' EXIT
for r in $(seq "$rounds"); do
  for b in "${bins[@]}"; do
    rm -rf "$data/out-ab"  # builds of every version write here (endline replaces only its own output)
    /usr/bin/time -f "%e %U %S %M" -o "$times" "$b" ingest bench/ingest_survey.yaml \
      "$data/bench_hh.csv" "$data/bench_hh-members.csv" --wave 1 --out "$data/out-ab" "$@" > /dev/null 2>&1
    read -r wall user sys kb < "$times"
    echo "$b $wall $(echo "$user + $sys" | bc) $((kb / 1024))" | tee -a "$times.runs"
  done
done
python3 - "$times.runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    b, wall, cpu, peak = line.split()
    runs.setdefault(b, []).append((float(wall), float(cpu), int(peak)))
print(f"{'build':40} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  (medians of {len(next(iter(runs.values())))})")
for b, r in runs.items():
    print(f"{b:40} {statistics.median(w for w, _, _ in r):7.2f} {statistics.median(c for _, c, _ in r):7.2f} {max(p for _, _, p in r):8}")
PY
