"""Times Callaway & Sant'Anna peers on the panel bench_cs writes: csdid (a port of R did)
and diff-diff (Rust backend), not-yet-treated controls, doubly robust, no covariates,
analytic standard errors (no bootstrap), clustered by county on household panels.

    python bench/peers_cs.py TOOL PATH [REPEATS]      TOOL: csdid | diff-diff

Prints one JSON line per repeat; the estimation alone is timed (data read first).
"""

import json
import sys
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore")
tool, path = sys.argv[1], sys.argv[2]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
df = pd.read_parquet(path)
clustered = df["unit"].nunique() != df["county"].nunique()

for _ in range(repeats):
    t = time.perf_counter()
    if tool == "csdid":
        from csdid.att_gt import ATTgt

        res = ATTgt(yname="y", tname="year", idname="unit", gname="cohort", data=df,
                    control_group="notyettreated", clustervar="county" if clustered else None).fit(est_method="dr", bstrap=False)
        agg = res.aggte(typec="simple", bstrap=False)
        att = float(agg.atte["overall_att"]) if hasattr(agg, "atte") else float("nan")
        se = float(agg.atte["overall_se"]) if hasattr(agg, "atte") else float("nan")
        version = "csdid 0.4.3"
    else:
        import diff_diff
        from diff_diff import CallawaySantAnna

        res = CallawaySantAnna(control_group="not_yet_treated", estimation_method="dr",
                               cluster="county" if clustered else None).fit(df, outcome="y", unit="unit", time="year", first_treat="cohort")
        att, se = float(res.overall_att), float(res.overall_se)
        version = "diff-diff " + diff_diff.__version__
    elapsed = time.perf_counter() - t
    print(json.dumps({"tool": version, "rows": len(df), "fit_s": round(elapsed, 3), "simple_att": att, "simple_se": se}), flush=True)
