"""Issue #23: Callaway & Sant'Anna's sufficient statistics by SQL, as docs/scale.md gives
it, run by DuckDB and by Apache DataFusion on a 1,000,000-row panel.

    python cs_sql.py OUT_DIR SQL_DIR [ROWS]

Writes OUT_DIR/panel.parquet (deterministic: 500 counties, 10 years, a third of counties
never treated, the rest staggered from the fourth year) and, per engine and kind,
OUT_DIR/stats_<engine>_<clustered|units>.parquet; checks that docs/scale/checks.sql finds
nothing wrong with the panel. The Rust test then estimates from each statistics file and
compares with `endline did` on the panel.
"""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out, sql_dir = Path(sys.argv[1]), Path(sys.argv[2])
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
years, counties = 10, 500
households = rows // years
rng = np.random.default_rng(23)
cohort_of_county = np.where(rng.random(counties) < 0.33, 0, 2014 + rng.integers(0, years - 3, counties))
hh = np.repeat(np.arange(households), years)
county = hh % counties
year = np.tile(np.arange(2011, 2011 + years), households)
first = cohort_of_county[county]
effect = np.where((first > 0) & (year >= first), 800 + 150 * (year - first), 0)
income = 20_000 + np.repeat(rng.normal(0, 5_000, households), years) + 300 * (year - 2011) + effect + rng.normal(0, 1_500, rows)
panel = pa.table({"household_id": hh, "county_id": county, "year": year, "first_treat": first, "income": income})
pq.write_table(panel, out / "panel.parquet", row_group_size=250_000)

view = (
    "SELECT household_id AS unit, year AS period, first_treat AS cohort, income AS y, county_id AS cluster "
    "FROM raw WHERE household_id IS NOT NULL AND year IS NOT NULL"
)
queries = {k: (sql_dir / f"cs_{k}.sql").read_text() for k in ("clustered", "units")}
checks = (sql_dir / "checks.sql").read_text()


def duckdb_engine():
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet('{out / 'panel.parquet'}')")
    con.execute(f"CREATE VIEW panel AS {view}")
    return lambda q: con.sql(q).to_arrow_table()


def datafusion_engine():
    from datafusion import SessionContext

    ctx = SessionContext()
    ctx.register_parquet("raw", str(out / "panel.parquet"))
    ctx.sql(f"CREATE VIEW panel AS {view}").collect()
    return lambda q: ctx.sql(q).to_arrow_table()


engines = {"duckdb": duckdb_engine}
try:
    import datafusion  # noqa: F401

    engines["datafusion"] = datafusion_engine
except ImportError:
    print("datafusion not installed: DuckDB only", file=sys.stderr)
for name, make in engines.items():
    run = make()
    bad = run(checks)
    assert bad.num_rows == 0, f"{name}: checks.sql found {bad.num_rows} problems"
    for kind, q in queries.items():
        t = run(q)
        pq.write_table(t, out / f"stats_{name}_{kind}.parquet")
        print(name, kind, t.num_rows)
