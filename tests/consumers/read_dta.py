"""Reads endline's Stata exports back (issue #19).

Usage: python read_dta.py EXPORT_DIR INGEST_DIR

Every `<table>.dta` in EXPORT_DIR is read with pandas' read_stata and with pyreadstat, and
compared with `<table>.parquet` in INGEST_DIR and the labels in its metadata: the same
rows; numeric values equal where present; a question's variable label its label in the
survey's first language; a select_one's value labels its choices; and every declared
missing code, where the Parquet has one (`<q>_missing`), read back as Stata's extended
missing value of that code (the first declared code `.a`, the second `.b`, ...).
"""

import json
import pathlib
import sys

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat


def main() -> int:
    out, data = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    checked = 0
    for dta in sorted(out.glob("*.dta")):
        table = pq.read_table(data / (dta.stem + ".parquet"))
        labels = json.loads(pq.read_metadata(data / (dta.stem + ".parquet")).metadata[b"endline.labels"])
        codes = [m["name"] for m in labels["missing_codes"]]
        parquet = table.to_pandas()
        plain = pd.read_stata(dta, convert_categoricals=False)
        assert len(plain) == len(parquet), (dta.name, len(plain), len(parquet))
        frame, meta = pyreadstat.read_dta(str(dta), user_missing=True)
        assert len(frame) == len(parquet)
        var_labels = dict(zip(meta.column_names, meta.column_labels))
        for v in labels["variables"]:
            name = v["name"]
            if name not in frame.columns:
                continue
            want = v["labels"][0]["text"] if v["labels"] else ""
            if v.get("unit"):
                want = f"{want} ({v['unit']})"
            assert (var_labels[name] or "") == want[:80], (name, var_labels[name], want)
            choices = {c["value"]: c["labels"][0]["text"] for c in v["choices"]}
            if choices and all(k.lstrip("-").isdigit() for k in choices) and name in meta.variable_value_labels:
                got = {str(int(k)): t for k, t in meta.variable_value_labels[name].items() if not isinstance(k, str)}
                assert got == choices, (name, got, choices)
            values = parquet[name]
            if pd.api.types.is_numeric_dtype(values):
                present = values.notna()
                read = pd.to_numeric(plain[name], errors="coerce")
                assert (abs(read[present] - values[present]) <= 1e-9 * abs(values[present]).clip(lower=1)).all(), name
            reasons = parquet.get(name + "_missing")
            if reasons is not None and pd.api.types.is_numeric_dtype(values):
                for i, reason in enumerate(reasons):
                    if isinstance(reason, str) and reason in codes:
                        letter = chr(ord("a") + codes.index(reason))
                        assert frame[name].iloc[i] == letter, (name, i, frame[name].iloc[i], letter)
                        checked += 1
        print(f"{dta.name}: {len(plain)} rows, {len(plain.columns)} variables read back")
    print(f"{checked} missing codes read back as Stata's extended missing values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
