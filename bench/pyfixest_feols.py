"""Times pyfixest's feols on the same Parquet panel endline's bench_feols fits.

    python bench/pyfixest_feols.py PATH [REPEATS]

Prints one JSON line per repeat; the estimation alone is timed (the data are read
first), as in bench_feols.
"""

import json
import sys
import time

import pandas as pd
import pyfixest as pf

path = sys.argv[1]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
t0 = time.perf_counter()
df = pd.read_parquet(path)
read_s = time.perf_counter() - t0
for _ in range(repeats):
    t = time.perf_counter()
    fit = pf.feols("y ~ x | unit + year", data=df, vcov={"CRV1": "county"})
    elapsed = time.perf_counter() - t
    print(json.dumps({"tool": "pyfixest " + pf.__version__, "rows": int(fit._N), "read_s": round(read_s, 3),
                      "fit_s": round(elapsed, 3), "estimate": float(fit.coef().iloc[0]),
                      "se": float(fit.se().iloc[0])}), flush=True)
