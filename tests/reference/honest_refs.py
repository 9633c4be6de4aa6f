"""Reference event study for endline's HonestDiD sensitivity analysis (`did --honest`).

Data: tests/data/honest/ehec_data.csv (provenance in tests/data/honest/PROVENANCE.md),
the Medicaid-expansion example of the HonestDiD R package's README.

The TWFE event study `dins ~ i(year, D, ref=2013) | stfips + year`, clustered by state,
years before 2016, the 2015 cohort dropped, fitted with pyfixest (a port of fixest): the
"twfe" block of tests/data/honest/expected.json. endline's own event study must give
these coefficients and this covariance.

The sensitivity intervals in expected.json ("published") are the ones the R package's
README prints (HonestDiD at commit 6813f02, "Example usage – Medicaid expansions"),
copied by hand. The `honestdid` 0.1.1 port on PyPI fails on current numpy (a TypeError in
`_lp_conditional_test_fn`), so it gives no second reference.

Run: python tests/reference/honest_refs.py
"""
import json
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pyfixest as pf

data = Path(__file__).resolve().parent.parent / "data" / "honest" / "ehec_data.csv"
df = pd.read_csv(data)
df = df[(df.year < 2016) & (df.yexp2.isna() | (df.yexp2 != 2015))].copy()
df["D"] = (df.yexp2 == 2014).astype(float)
fit = pf.feols("dins ~ i(year, D, ref=2013) | stfips + year", data=df, vcov={"CRV1": "stfips"})
out = {
    "tool": f"pyfixest {version('pyfixest')}",
    "terms": list(fit._coefnames),
    "beta": fit.coef().to_numpy().tolist(),
    "sigma": fit._vcov.tolist(),
}
json.dump(out, sys.stdout, indent=1)
print()
