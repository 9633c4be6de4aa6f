#!/usr/bin/env bash
# Inputs that were super-linear (issue #24), each timed at two sizes so the growth shows:
# validating a survey of 20,000 and 80,000 questions, a chain of 400 and 1,600
# calculations declared backwards (each uses the one after it), and ingesting a CSV of
# 25,000 and 100,000 columns. Release build; results in bench/results/linear.txt.
#
#   bash bench/linear.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q --bin endline
bin="$CARGO_TARGET_DIR/release/endline"
data=${BENCH_DATA:-/tmp/endline-bench}/linear
mkdir -p "$data" bench/results
python3 - "$data" <<'PY'
import sys
d = sys.argv[1]
def survey(path, lines):
    open(path, "w").write("\n".join(lines) + "\n")
for n in (20000, 80000):
    survey(f"{d}/questions_{n}.yaml", ["survey: big", 'version: "1"', "key: q0", "questions:"] +
           [f'  - {{name: q{i}, type: integer, label: Q{i}, constraint: ". >= 0"}}' for i in range(n)])
for n in (400, 1600):
    survey(f"{d}/chain_{n}.yaml", ["survey: chain", 'version: "1"', "key: q0", "questions:",
                                   "  - {name: q0, type: integer, label: Q}"] +
           [f'  - {{name: c{i}, type: calculate, calculation: "${{{"q0" if i == 1 else f"c{i - 1}"}}} + 1"}}'
            for i in range(n, 0, -1)])
survey(f"{d}/wide.yaml", ["survey: wide", 'version: "1"', "key: id", "questions:", "  - {name: id, type: text, label: ID}"])
for n in (25000, 100000):
    with open(f"{d}/wide_{n}.csv", "w") as f:
        f.write(",".join(["id"] + [f"x{i}" for i in range(n)]) + "\n")
        for r in range(3):
            f.write(",".join([f"A{r}"] + ["1"] * n) + "\n")
PY
out=bench/results/linear.txt
: > "$out"
timed() { # label command...: wall seconds and peak RSS (MB)
  /usr/bin/time -f "%e %M" -o /tmp/bench_time.txt "${@:2}" > /dev/null 2>&1 || true
  read -r secs kb < /tmp/bench_time.txt
  printf '%-40s %8s s %8s MB\n' "$1" "$secs" "$((kb / 1024))" | tee -a "$out"
}
for n in 20000 80000; do timed "validate, $n questions" "$bin" validate "$data/questions_$n.yaml"; done
for n in 400 1600; do timed "validate, chain of $n calculations" "$bin" validate "$data/chain_$n.yaml"; done
for n in 25000 100000; do
  rm -rf "$data/out_$n"
  timed "ingest, CSV of $n columns" "$bin" ingest "$data/wide.yaml" "wide=$data/wide_$n.csv" --wave 1 --out "$data/out_$n"
done
