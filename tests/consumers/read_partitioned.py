"""A hive-partitioned export read back by DuckDB and by Apache DataFusion, against the
ingest outputs it came from: the same rows and the same column types.

    python read_partitioned.py DATASET_DIR TABLE UNIT_COLUMN INGEST_DIR...

The unit column lives in the directory names (`county_id=3`): DuckDB infers its type, and
DataFusion is told it (the source's type). `_wave` is in the files, and each engine adds
the `wave` key from the path, which must equal it. Exit 0 when both engines agree with the
source; the differences are printed otherwise.
"""

import re
import sys

import datafusion
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def logical(t):
    """A type without Arrow's physical variants: text, large text and string views are one
    type, as are lists and large lists (an engine picks its own)."""
    s = str(t).replace("large_list", "list").replace("large_string", "string").replace("string_view", "string")
    return re.sub(r"<\w+: ", "<", s)


def canonical(t, columns):
    t = t.select(columns)
    # DataFusion reads text as string_view, which pyarrow cannot sort: plain text.
    fields = [pa.field(f.name, pa.large_string() if str(f.type) == "string_view" else f.type) for f in t.schema]
    t = t.cast(pa.schema(fields))
    return t.sort_by([(c, "ascending") for c in ("_wave", "_source_row", "KEY") if c in columns])


def main():
    ds, table, unit, *ingests = sys.argv[1:]
    src = pa.concat_tables([pq.read_table(f"{d}/{table}.parquet") for d in ingests])
    columns = src.column_names
    src = canonical(src, columns)
    problems = []
    path = f"{ds}/{table}"
    by_unit = unit in columns and unit != "-"
    # DuckDB: hive partitioning, the key types inferred from the paths.
    duck = duckdb.sql(f"select * from read_parquet('{path}/**/*.parquet', hive_partitioning = true)").to_arrow_table()
    # DataFusion: a listing table with the partition columns declared.
    ctx = datafusion.SessionContext()
    parts = [("wave", pa.string())] + ([(unit, src.schema.field(unit).type)] if by_unit else [])
    ctx.register_parquet("t", path, table_partition_cols=parts)
    fusion = ctx.sql("select * from t").to_arrow_table()
    for name, got in [("duckdb", duck), ("datafusion", fusion)]:
        missing = [c for c in columns if c not in got.column_names]
        if missing:
            problems.append(f"{name}: missing columns {missing}")
            continue
        if [str(w) for w in got.column("wave").to_pylist()] != [str(w) for w in got.column("_wave").to_pylist()]:
            problems.append(f"{name}: the wave= key differs from _wave")
        got = canonical(got, columns)
        for c in columns:
            a, b = src.schema.field(c).type, got.schema.field(c).type
            # A dictionary-encoded text column reads back as text, or the reverse.
            plain = lambda t: t.value_type if pa.types.is_dictionary(t) else t
            same_type = logical(plain(a)) == logical(plain(b))
            if not same_type:
                problems.append(f"{name}: {c} is {b}, not {a}")
            elif src.column(c).cast(plain(a)).to_pylist() != got.column(c).cast(plain(a)).to_pylist():
                problems.append(f"{name}: the values of {c} differ")
        if got.num_rows != src.num_rows:
            problems.append(f"{name}: {got.num_rows} rows, not {src.num_rows}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"{table}: {src.num_rows} rows, {len(columns)} columns, the same in DuckDB and DataFusion")


if __name__ == "__main__":
    main()
