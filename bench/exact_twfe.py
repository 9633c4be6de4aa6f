# Balanced household x year panel: the two-way demeaning is exact,
# z~ = z - mean_h(z) - mean_t(z) + mean(z); sums in long double (80-bit) to judge rounding.
import sys, numpy as np, polars as pl
df = pl.read_parquet(sys.argv[1], columns=["household_id", "year", "treat_post", "income"])
h = df["household_id"].to_numpy(); t = df["year"].to_numpy() - 2011
x = df["treat_post"].to_numpy().astype(np.longdouble); y = df["income"].to_numpy().astype(np.longdouble)
del df
H = h.max() + 1; T = t.max() + 1
def dm(v):
    mh = np.bincount(h, weights=v.astype(np.float64), minlength=H)  # placeholder, replaced below
    sh = np.zeros(H, dtype=np.longdouble); np.add.at(sh, h, v)
    st = np.zeros(T, dtype=np.longdouble); np.add.at(st, t, v)
    return v - sh[h] / T - st[t] / H + v.sum() / len(v)
xt = dm(x); yt = dm(y)
print(repr(float((xt * yt).sum() / (xt * xt).sum())))
