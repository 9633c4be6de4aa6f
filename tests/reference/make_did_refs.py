"""Reference estimates for endline's Callaway & Sant'Anna estimator.

Data: `mpdta` (teen employment in 500 US counties, 2003-2007; Callaway & Sant'Anna 2021),
as shipped in moderndid's wheel. Estimates: moderndid 0.2.0, a port of R's `did`
(whose documentation shows the same numbers, e.g. ATT(2004,2004) = -0.0105, s.e. 0.0233).

For never-treated and not-yet-treated controls, without and with the `lpop` covariate,
and the dr, ipw and reg methods: every ATT(g,t) with its analytic (influence-function)
standard error, the simple, dynamic, group and calendar aggregations with analytic
standard errors, and the pre-test of parallel trends. Plus one case each for the
universal base period and for anticipation.

Regenerate (Python 3.11):
    python3 -m venv .venv && .venv/bin/pip install moderndid==0.2.0
    .venv/bin/python tests/reference/make_did_refs.py
"""

import json
import pathlib

import moderndid as md
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/endline-analysis/tests/data/did"
OUT.mkdir(parents=True, exist_ok=True)

df = md.load_mpdta()
# A deterministic unit-level sampling weight (constant within county), for the weighted cases.
import polars as pl

df = df.with_columns((1.0 + (pl.col("countyreal") % 3) * 0.5).alias("w"))
df.write_csv(OUT / "mpdta.csv")


def arr(x):
    # NaN (the standard error of a cell normalised to zero) becomes null.
    return [None if np.isnan(v) else float(v) for v in np.asarray(x, dtype=float).ravel()]


def aggregate(result, kind):
    a = md.aggte(result, type=kind, boot=False, cband=False)
    out = {"overall": {"att": float(a.overall_att), "std_error": float(a.overall_se)}}
    if kind != "simple":
        out["by"] = {"index": arr(a.event_times), "att": arr(a.att_by_event), "std_error": arr(a.se_by_event)}
    return out


def r_did_points(r, weights):
    """Aggregated point estimates as R did's compute.aggte forms them, with weighted pg."""
    units = df.filter(pl.col("year") == df["year"].min())
    G, w = units["first.treat"].to_numpy(), units[weights].to_numpy()
    g, t, a = np.asarray(r.groups), np.asarray(r.times), np.asarray(r.att_gt)
    pg = {k: float(np.mean(w * (G == k))) for k in np.unique(g)}
    p = np.array([pg[x] for x in g])
    post = g <= t
    wavg = lambda m: float((p[m] * a[m]).sum() / p[m].sum())
    events = sorted(set((t - g).tolist()))
    dyn = {e: wavg((t - g) == e) for e in events}
    grp = {k: float(a[(g == k) & post].mean()) for k in sorted(set(g.tolist()))}
    cal = {x: wavg((t == x) & post) for x in sorted(set(t.tolist())) if x >= g.min() and ((t == x) & post).any()}
    return {
        "simple": wavg(post),
        "dynamic": {"overall": float(np.mean([v for e, v in dyn.items() if e >= 0])), "by": [dyn[e] for e in events]},
        "group": {"overall": sum(pg[k] * v for k, v in grp.items()) / sum(pg[k] for k in grp), "by": list(grp.values())},
        "calendar": {"overall": float(np.mean(list(cal.values()))), "by": list(cal.values())},
    }


cases = {}
settings = []
for control in ["nevertreated", "notyettreated"]:
    for xformla in [None, "~lpop"]:
        for est in ["dr", "ipw", "reg"]:
            settings.append((control, xformla, est, "varying", 0))
settings.append(("nevertreated", None, "dr", "universal", 0))
settings.append(("notyettreated", "~lpop", "dr", "varying", 1))
# Weighted: (control, xformla, est_method, base, anticipation, weights).
settings.append(("nevertreated", "~lpop", "dr", "varying", 0, "w"))
settings.append(("notyettreated", None, "reg", "varying", 0, "w"))
settings.append(("nevertreated", "~lpop", "ipw", "varying", 0, "w"))

for setting in settings:
    control, xformla, est, base, antic = setting[:5]
    weights = setting[5] if len(setting) > 5 else None
    r = md.att_gt(df, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                  xformla=xformla, est_method=est, control_group=control, base_period=base,
                  anticipation=antic, weightsname=weights, boot=False, cband=False)
    name = f"{control}_{'lpop' if xformla else 'nocov'}_{est}" + ("" if base == "varying" else f"_{base}") + (f"_antic{antic}" if antic else "") + ("_weighted" if weights else "")
    cases[name] = {
        "control": "never" if control == "nevertreated" else "notyet",
        "covariates": ["lpop"] if xformla else [],
        "est_method": est,
        "base_period": base,
        "anticipation": antic,
        "weights": weights,
        "n_units": int(r.n_units),
        "att_gt": {"group": arr(r.groups), "time": arr(r.times), "att": arr(r.att_gt), "std_error": arr(r.se_gt)},
        "pretrend": {"statistic": None if r.wald_stat is None else float(r.wald_stat),
                     "p_value": None if r.wald_pvalue is None else float(r.wald_pvalue)},
        "aggregate": {k: aggregate(r, k) for k in ["simple", "dynamic", "group", "calendar"]},
    }
    if weights:
        # moderndid 0.2.0's aggte does not weight the cohort shares P(G = g) by the sampling
        # weights, while R did's compute.aggte does (weights.ind <- dta$.w; pg <-
        # mean(weights.ind * (G == g))). Record R did's point estimates, computed here from
        # the ATT(g,t) with weighted shares, beside moderndid's.
        cases[name]["aggregate_r_did_points"] = r_did_points(r, weights)

# Sun & Abraham: pyfixest's saturated event study (cohort x event-time interactions,
# never-treated comparison, cluster by county) and its aggregation by event time with
# cohort-share weights.
import warnings

import pyfixest as pf

warnings.filterwarnings("ignore")
pdf = df.to_pandas().rename(columns={"first.treat": "first_treat"})
sat = pf.event_study(pdf, yname="lemp", idname="countyreal", tname="year", gname="first_treat", estimator="saturated")
agg = sat.aggregate()
tidy = sat.tidy()
sunab = {
    "by_event_time": {"event_time": [float(v) for v in agg.index], "estimate": [float(v) for v in agg["Estimate"]],
                      "std_error": [float(v) for v in agg["Std. Error"]]},
    "cohort_effects": {name: {"estimate": float(r["Estimate"]), "std_error": float(r["Std. Error"])} for name, r in tidy.iterrows()},
}

doc = {
    "generated_by": {"script": "tests/reference/make_did_refs.py", "moderndid": md.__version__, "pyfixest": pf.__version__, "numpy": np.__version__},
    "sunab": sunab,
    "data": {"file": "mpdta.csv", "source": "moderndid.load_mpdta() (the mpdta data of R's did package)",
             "outcome": "lemp", "time": "year", "unit": "countyreal", "cohort": "first.treat"},
    "cases": cases,
}
(OUT / "mpdta_refs.json").write_text(json.dumps(doc, indent=1) + "\n")
print(len(cases), "cases")
print(json.dumps(cases["nevertreated_nocov_dr"]["aggregate"], indent=1)[:1500])
