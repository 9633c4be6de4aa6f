"""Wild cluster restricted bootstrap: endline against pyfixest's wildboottest.

Provenance: pyfixest 0.60.0 with wildboottest (pip, in the reference venv).
Bootstrap p-values are random, so the two tools cannot agree to 1e-6; what must
agree is the distribution they sample from. With B draws each, the two p-values
differ by a normal variable with s.d. sqrt(2 p (1 - p) / B); this script fails
if any difference exceeds 4 of those s.d.

Run:  python tests/reference/wild_peer.py path/to/endline [draws]
"""
import json
import math
import subprocess
import sys

import pandas as pd
import pyfixest as pf

ENDLINE = sys.argv[1]
B = int(sys.argv[2]) if len(sys.argv) > 2 else 9999
DATA = "crates/endline-analysis/tests/data/reference/b_castle_twfe.csv"

# (formula, cluster, weights). With sid + year the FE that matter are nested in
# the cluster (endline's O(G*K) path); with year alone they are not (the exact
# re-demeaning path).
CASES = [
    ("l_homicide ~ post | sid + year", "sid", "rademacher"),
    ("l_homicide ~ post + l_police + unemployrt | sid + year", "sid", "rademacher"),
    ("l_larceny ~ post + poverty | sid + year", "sid", "webb"),
    ("l_homicide ~ post + poverty | year", "sid", "rademacher"),
]

df = pd.read_csv(DATA)
worst = 0.0
for formula, cluster, weights in CASES:
    fit = pf.feols(formula, data=df, vcov={"CRV1": cluster})
    peer = fit.wildboottest(param="post", reps=B, seed=12345, cluster=cluster,
                            weights_type=weights)
    peer_p = float(peer["Pr(>|t|)"])
    out = subprocess.run(
        [ENDLINE, "estimate", DATA, "--formula", formula, "--vcov", f"cluster:{cluster}",
         "--bootstrap", str(B), "--bootstrap-weights", weights, "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout
    model = json.loads(out)
    coef = next(c for c in model["coefficients"] if c["term"] == "post")
    ours = coef["wild_bootstrap"]["p_value"]
    p = (ours + peer_p) / 2
    sd = math.sqrt(2 * max(p * (1 - p), 1e-4) / B)
    z = abs(ours - peer_p) / sd
    worst = max(worst, z)
    print(f"{formula:55s} {weights:10s} endline p={ours:.4f} pyfixest p={peer_p:.4f} |z|={z:.2f}")

print(f"largest |z| = {worst:.2f} (fails above 4)")
sys.exit(0 if worst <= 4 else 1)
