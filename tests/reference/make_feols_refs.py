"""Reference estimates for endline's regression engine, computed with pyfixest.

Covers what the shared fixtures do not: two-way clustering, i() event-study terms, and
weights with clustering (also combined). Input: the shared synthetic household panel
(crates/endline-analysis/tests/data/reference/e_household_wls.csv). Output:
crates/endline-analysis/tests/data/own/feols_refs.json, read by tests/it/own.rs.

Regenerate (Python 3.11):
    python3 -m venv .venv && .venv/bin/pip install pyfixest==0.60.0
    .venv/bin/python tests/reference/make_feols_refs.py
"""

import json
import pathlib

import numpy as np
import pandas as pd
import pyfixest as pf

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "crates/endline-analysis/tests/data/reference/e_household_wls.csv"
OUT = ROOT / "crates/endline-analysis/tests/data/own"

df = pd.read_csv(DATA)
# Event time relative to the county's first treated year; never-treated households are
# put in the reference period, the usual convention for a TWFE event study.
df["rel_time"] = np.where(df["treat_year"] > 0, df["year"] - df["treat_year"], -1)
# Bin distant leads and lags, as a user would.
df["rel_time"] = df["rel_time"].clip(-4, 4)
out_csv = OUT / "household_event.csv"
OUT.mkdir(parents=True, exist_ok=True)
df.to_csv(out_csv, index=False)

MODELS = {
    "twoway_cluster": ("income ~ treat_post + age + educ_years | county_id + year", {"CRV1": "county_id+year"}, None),
    "twoway_cluster_weighted": ("income ~ treat_post + hh_size | household_id + year", {"CRV1": "county_id+year"}, "weight"),
    "event_study": ("income ~ i(rel_time, ref=-1) | household_id + year", {"CRV1": "county_id"}, None),
    "event_study_weighted": ("income ~ i(rel_time, ref=-1) | county_id + year", {"CRV1": "county_id"}, "weight"),
    "weighted_cluster_covariates": ("income ~ treat_post + age + female_head + urban | county_id + year", {"CRV1": "county_id"}, "weight"),
    "weighted_hetero_no_fe": ("income ~ treat_post + treated_county + hh_size", "hetero", "weight"),
}

records = {}
for name, (formula, vcov, weights) in MODELS.items():
    # The tightest demeaning tolerance that converges (as the shared fixtures do).
    for tol in [1e-13, 1e-12, 1e-11, 1e-10]:
        try:
            fit = pf.feols(formula, data=pd.read_csv(out_csv), vcov=vcov, weights=weights,
                           demeaner=pf.MapDemeaner(fixef_tol=tol, fixef_maxiter=20_000))
            break
        except ValueError:
            continue
    tidy = fit.tidy()
    coefs = {}
    for term, row in tidy.iterrows():
        coefs[term] = {
            "estimate": float(row["Estimate"]),
            "se": float(row["Std. Error"]),
            "t": float(row["t value"]),
            "p": float(row["Pr(>|t|)"]),
            "ci_low": float(row["2.5%"]),
            "ci_high": float(row["97.5%"]),
        }
    records[name] = {
        "formula": formula,
        "vcov": vcov if isinstance(vcov, str) else "cluster:" + vcov["CRV1"],
        "weights": weights,
        "n_obs": int(fit._N),
        "df_t": int(fit._df_t),
        "coefficients": coefs,
        "vcov_matrix": np.asarray(fit._vcov).tolist(),
        "r2": float(fit._r2),
        "fixef_tol": tol,
    }

doc = {
    "generated_by": {"script": "tests/reference/make_feols_refs.py", "pyfixest": pf.__version__,
                     "pandas": pd.__version__, "numpy": np.__version__},
    "data": "household_event.csv",
    "models": records,
}
(OUT / "feols_refs.json").write_text(json.dumps(doc, indent=1) + "\n")
print(json.dumps({k: list(v["coefficients"])[:4] for k, v in records.items()}, indent=1))
