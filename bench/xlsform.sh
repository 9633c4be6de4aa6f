#!/usr/bin/env bash
# XLSForm import at questionnaire scale (issue #17's target: a 6,000-row form in under a
# second), beside pyxform on the same workbook. The form is generated deterministically:
# 6,000 survey rows in 60 groups (integers with constraints and relevance, selects over
# 40 shared lists, texts, calculations, notes), three languages, exported by endline to
# .xlsx and read back.
#
#   bash bench/xlsform.sh [ROWS]          (default: 6000)
#
# Builds the release binary. Results go to bench/results/xlsform.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-6000}
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}-release}
cargo build --release -q -p endline-cli --bin endline
bin="$CARGO_TARGET_DIR/release/endline"
python=${ENDLINE_PYTHON:-$HOME/.cache/endline-venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$rows" "$work/form.yaml" <<'PY'
import sys
rows, out = int(sys.argv[1]), sys.argv[2]
langs = ["en", "fr", "sw"]
def label(text):
    return "{" + ", ".join(f"{l}: \"{text} ({l})\"" for l in langs) + "}"
lines = ["survey: big_form", 'version: "1"', f"languages: [{', '.join(langs)}]", "key: hh_id",
         "missing_codes: {dont_know: -99, refused: -98}", "choices:"]
for l in range(40):
    lines.append(f"  list{l}:")
    for c in range(1, 8):
        lines.append(f"    - {{value: {c}, label: {label(f'Option {c} of list {l}')}}}")
lines.append("questions:")
lines.append(f"  - {{name: hh_id, type: text, label: {label('Household ID')}, required: true}}")
groups, per = 60, (rows - 1 + 59) // 60 - 2  # rows = 1 + 60 × (begin + per + end)
n = 0
for g in range(groups):
    lines.append(f"  - name: g{g}\n    type: group\n    label: {label(f'Section {g}')}\n    questions:")
    prev = None
    for i in range(per):
        n += 1
        k = n % 5
        rel = f", relevant: \"${{{prev}}} > 0\"" if prev and k == 0 else ""
        if k in (0, 1):
            lines.append(f"      - {{name: q{n}, type: integer, label: {label(f'Question {n}')}, constraint: \". >= 0 and . <= 1000\", missing: [dont_know, refused]{rel}}}")
            prev = f"q{n}"
        elif k == 2:
            lines.append(f"      - {{name: q{n}, type: select_one list{n % 40}, label: {label(f'Question {n}')}, hint: {label('Pick one')}}}")
        elif k == 3:
            lines.append(f"      - {{name: q{n}, type: text, label: {label(f'Question {n}')}}}")
        else:
            src = prev or "hh_id"
            lines.append(f"      - {{name: q{n}, type: calculate, calculation: \"${{{src}}} * 2\"}}" if prev else f"      - {{name: q{n}, type: note, label: {label('Note')}}}")
open(out, "w").write("\n".join(lines) + "\n")
PY
"$bin" convert "$work/form.yaml" -o "$work/form.xlsx" > /dev/null
mkdir -p bench/results
out=bench/results/xlsform.txt
{
  echo "== endline convert form.xlsx -o form.yaml ($(( $rows )) survey rows, 3 languages)"
  for i in 1 2 3; do
    /usr/bin/time -f "wall %e s, peak %M KB" "$bin" convert "$work/form.xlsx" -o "$work/back.yaml" 2>&1 >/dev/null | tail -1
    rm -f "$work/back.yaml"
  done
  echo "== pyxform $("$python" -c 'import pyxform; print(pyxform.__version__)') xls2xform form.xlsx (no ODK Validate)"
  /usr/bin/time -f "wall %e s, peak %M KB" "$(dirname "$python")/xls2xform" "$work/form.xlsx" "$work/form.xml" 2>&1 >/dev/null | tail -1
} | tee "$out"
