#!/usr/bin/env bash
# How often the example study's 95% intervals cover the planted effects, and how often its
# pre-trend tests reject, over simulation seeds: the example's seed is one draw, and this
# shows it is not a lucky one. Not run by CI (it takes a minute or two in release).
#
#   bash tests/reference/example_coverage.sh [SEEDS]      (default 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release
cargo build --release -q --bin endline
bin="$CARGO_TARGET_DIR/release/endline"
work=$(mktemp -d)
trap 'rm -rf "$work" analysis/.coverage_*.yaml' EXIT
for seed in $(seq 1 "$n"); do
  plan=analysis/.coverage_$seed.yaml
  sed "s/^    seed: .*/    seed: $seed/; s/^plan: .*/plan: coverage_$seed/" analysis/border_social_workers.yaml > "$plan"
  # A seed whose main estimate cannot be identified (the corridor separating a cohort
  # from its comparison counties in the propensity score) is counted, not hidden.
  "$bin" run "$plan" --out "$work" > /dev/null 2> "$work/err_$seed.txt" || echo "seed $seed: $(tail -n 1 "$work/err_$seed.txt")"
done
python3 - "$work" "$n" <<'PY'
import json, sys, glob
work, n = sys.argv[1], int(sys.argv[2])
rows = {}
for path in sorted(glob.glob(f"{work}/coverage_*/results.json")):
    r = json.load(open(path))
    for o in r["outcomes"]:
        s = rows.setdefault(o["name"], {"covered": 0, "est": [], "pre": 0, "pre_uncond": 0})
        s["covered"] += o["truth"]["covered"]
        s["est"].append(o["cs"]["simple"]["estimate"])
        s["pre"] += o["cs"]["pretrend_test"]["p_value"] < 0.05
        u = [x for x in o["robustness"] if x["name"].startswith("no covariates")][0]
        s["pre_uncond"] += u["pretrend_p"] < 0.05
        s["truth"] = o["truth"]["effect"]
runs = len(glob.glob(f"{work}/coverage_*/results.json"))
print(f"{n} seeds of analysis/border_social_workers.yaml: {runs} ran, {n - runs} stopped with an error")
print(f"{'outcome':<18} {'planted':>8} {'mean ATT':>9} {'covered':>8} {'pre-test rejects':>17} {'unconditional rejects':>22}")
for k, s in rows.items():
    m = sum(s["est"]) / len(s["est"])
    print(f"{k:<18} {s['truth']:>8.3f} {m:>9.4f} {s['covered']:>5}/{runs} {s['pre']:>14}/{runs} {s['pre_uncond']:>19}/{runs}")
PY
