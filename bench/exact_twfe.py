"""The two-way fixed-effects regression of bench/scale.sh's balanced panels computed
exactly, as a reference for endline's streamed and in-memory fits at 1e7-1e8 rows:

    python bench/exact_twfe.py ROWS.parquet

On a balanced household x year panel the demeaning has a closed form,
z~ = z - mean_household(z) - mean_year(z) + mean(z); every sum is taken in 80-bit long
double, so the printed coefficient and its CR1 standard error (by county, fixest's
small-sample correction with the household effects nested in the counties:
K = 1 + 1 + years - 1) are free of the rounding a float64 sum of 1e8 terms carries.
"""

import sys

import numpy as np
import polars as pl

df = pl.read_parquet(sys.argv[1], columns=["household_id", "county_id", "year", "treat_post", "income"])
h = df["household_id"].to_numpy()
g = df["county_id"].to_numpy()
t = df["year"].to_numpy() - df["year"].min()
x = df["treat_post"].to_numpy().astype(np.longdouble)
y = df["income"].to_numpy().astype(np.longdouble)
del df
n, H, T, G = len(y), h.max() + 1, t.max() + 1, g.max() + 1


def demean(v):
    sh = np.zeros(H, dtype=np.longdouble)
    np.add.at(sh, h, v)
    st = np.zeros(T, dtype=np.longdouble)
    np.add.at(st, t, v)
    return v - sh[h] / T - st[t] / H + v.sum() / n


xt, yt = demean(x), demean(y)
sxx = (xt * xt).sum()
beta = (xt * yt).sum() / sxx
score = np.zeros(G, dtype=np.longdouble)
np.add.at(score, g, xt * (yt - beta * xt))
k = 1 + 1 + T - 1
v = (score * score).sum() / (sxx * sxx) * G / (G - 1) * (n - 1) / (n - k)
print(f"estimate {float(beta)!r} std_error {float(np.sqrt(v))!r}")
