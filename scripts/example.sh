#!/usr/bin/env bash
# The example study, end to end, with one command: did embedding professional social
# workers in rural border counties raise households' specialty-product sales and incomes?
#
# `endline run` reads the analysis plan (analysis/border_social_workers.yaml), validates it
# and the questionnaire (surveys/border_household.yaml), simulates seven yearly survey waves
# of 80 border counties with a planted effect (no field data ship with endline), ingests
# every wave into typed Parquet, builds the household panel, estimates the effect
# (Callaway & Sant'Anna conditional on the trade corridor, with the naive comparison,
# robustness checks and the Bacon decomposition beside it), and renders the report.
# Outputs: out/border_social_workers/ (report.html, report.md, results.json, manifest.json,
# the simulated exports and the ingested data).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/endline-target}
cargo build -q --bin endline
"$CARGO_TARGET_DIR/debug/endline" run analysis/border_social_workers.yaml --out out
echo "Open out/border_social_workers/report.html in a browser (or read report.md)."
