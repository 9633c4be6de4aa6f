"""Field data as ODK Central and KoboToolbox export it, for a form as pyxform builds it.

    python platform_export.py FORM.xml SIMULATED_DIR OUT_DIR central|kobo

The headers come from the XForm alone, as the platforms derive them from the form's
instance (not from endline): every leaf of the instance, in order, with groups joined
into its path; each repeat in a file of its own.

- ODK Central (CSV export): `<form>.csv` with `SubmissionDate`, the fields as group
  paths joined with `-` (a geopoint as `-Latitude`, `-Longitude`, `-Altitude`,
  `-Accuracy`), `meta-instanceID`, `KEY` and Central's own columns; a repeat in
  `<form>-<repeat>.csv` with its fields, `PARENT_KEY` and `KEY`.
- KoboToolbox (CSV export, XML names, `/` as the group separator): `<form>.csv` with the
  fields as full `/` paths (a select_multiple also split into `q/option` 1/0 columns, a
  geopoint also as `_q_latitude`, `_q_longitude`, `_q_altitude`, `_q_precision`) and
  Kobo's `_id`, `_uuid`, `_submission_time`, `_index` …; a repeat (Kobo's sheet of the
  xlsx export) in `<form>-<repeat>.csv` with its fields' full paths, `_index`,
  `_parent_table_name` and `_parent_index`.

The values are those endline simulated for the same survey (`SIMULATED_DIR`, in ODK
Central's layout), moved under the platform's headers, so that the test can check that
ingest maps every column of a real export to its question.
"""

import csv
import json
import os
import sys
import xml.etree.ElementTree as ET

NS = {"h": "http://www.w3.org/1999/xhtml", "x": "http://www.w3.org/2002/xforms"}


def leaves(node, path, types, out, repeats, in_repeat):
    """The instance's leaves under `node` as (path parts, type); repeats apart."""
    seen = set()
    for child in node:
        tag = child.tag.split("}")[-1]
        parts = path + [tag]
        full = "/" + "/".join(parts)
        if full in repeats:
            if tag in seen:
                continue  # the repeat's template and its first instance
            seen.add(tag)
            repeats[full] = []
            leaves(child, [], types, repeats[full], repeats, parts)
            repeats[full] = (in_repeat + [tag] if in_repeat else parts, repeats[full])
            continue
        if len(child):
            leaves(child, parts, types, out, repeats, in_repeat)
        else:
            out.append((parts, types.get("/".join((in_repeat or []) + parts), "string")))


def form_fields(xform):
    root = ET.parse(xform).getroot()
    model = root.find("h:head/x:model", NS)
    data = list(model.find("x:instance", NS))[0]
    types = {}
    for b in model.findall("x:bind", NS):
        types["/".join(b.get("nodeset").split("/")[2:])] = b.get("type", "string")
    # Repeats: the body's <repeat nodeset="...">.
    repeats = {}
    for rep in root.iter("{%s}repeat" % NS["x"]):
        repeats["/" + "/".join(rep.get("nodeset").split("/")[2:])] = None
    main = []
    leaves(data, [], types, main, repeats, None)
    choices = {}
    for sel in root.iter("{%s}select" % NS["x"]):
        ref = "/".join(sel.get("ref").split("/")[2:])
        items = sel.find("x:itemset", NS)
        if items is not None:
            iid = items.get("nodeset").split("'")[1]
            inst = model.find(f"x:instance[@id='{iid}']", NS)
            choices[ref] = [i.find("x:name", NS).text for i in inst.iter("{%s}item" % NS["x"])]
    return data.tag.split("}")[-1], main, repeats, choices


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


GEO_CENTRAL = ["Latitude", "Longitude", "Altitude", "Accuracy"]
GEO_KOBO = ["latitude", "longitude", "altitude", "precision"]


def value(sim, parts, in_repeat):
    """The simulated value of a field (endline simulates in Central's `-` paths)."""
    key = "-".join(parts)
    if key in sim:
        return sim[key]
    if parts[-1] in sim:
        return sim[parts[-1]]
    return ""


def main():
    xform, simdir, out, platform = sys.argv[1:5]
    _, fields, repeats, choices = form_fields(xform)
    sims = sorted(f for f in os.listdir(simdir) if f.endswith(".csv"))
    top = min(sims, key=len)
    stem = top[: -len(".csv")]
    os.makedirs(out, exist_ok=True)
    main_rows = read(os.path.join(simdir, top))
    written = {}
    if platform == "central":
        header = ["SubmissionDate"]
        for parts, ty in fields:
            if parts == ["meta", "instanceID"] or parts[0] == "meta":
                continue
            if ty == "geopoint":
                header += ["-".join(parts) + "-" + g for g in GEO_CENTRAL]
            else:
                header.append("-".join(parts))
        header += ["meta-instanceID", "KEY", "SubmitterID", "SubmitterName", "AttachmentsPresent",
                   "AttachmentsExpected", "Status", "ReviewState", "DeviceID", "Edits", "FormVersion"]
        rows = []
        for r in main_rows:
            row = [r["SubmissionDate"]]
            for parts, ty in fields:
                if parts[0] == "meta":
                    continue
                v = value(r, parts, None)
                if ty == "geopoint":
                    g = v.split() + [""] * 4
                    row += g[:4]
                else:
                    row.append(v)
            row += [r["meta-instanceID"], r["KEY"], "5", "enumerator", "0", "0", "", "", "", "0", "1"]
            rows.append(row)
        write(os.path.join(out, f"{stem}.csv"), header, rows)
        written[f"{stem}.csv"] = header
        for full, (path, rfields) in repeats.items():
            rname = path[-1]
            sim = read(os.path.join(simdir, f"{stem}-{rname}.csv"))
            header = ["-".join(p) for p, _ in rfields] + ["PARENT_KEY", "KEY"]
            rows = [[value(r, p, path) for p, _ in rfields] + [r["PARENT_KEY"], r["KEY"]] for r in sim]
            write(os.path.join(out, f"{stem}-{rname}.csv"), header, rows)
            written[f"{stem}-{rname}.csv"] = header
    else:
        header = []
        for parts, ty in fields:
            if parts[0] == "meta":
                continue
            p = "/".join(parts)
            header.append(p)
            if ty == "geopoint":
                header += [f"_{parts[-1]}_{g}" for g in GEO_KOBO]
            if p in choices:
                header += [f"{p}/{c}" for c in choices[p]]
        header += ["meta/instanceID", "_id", "_uuid", "_submission_time", "_validation_status", "_notes",
                   "_status", "_submitted_by", "__version__", "_tags", "_index"]
        rows = []
        index = {}
        for i, r in enumerate(main_rows, start=1):
            index[r["KEY"]] = i
            row = []
            for parts, ty in fields:
                if parts[0] == "meta":
                    continue
                p = "/".join(parts)
                v = value(r, parts, None)
                row.append(v)
                if ty == "geopoint":
                    row += (v.split() + [""] * 4)[:4]
                if p in choices:
                    chosen = v.split()
                    row += [("1" if c in chosen else "0") if v else "" for c in choices[p]]
            uuid = r["meta-instanceID"].removeprefix("uuid:")
            row += [r["meta-instanceID"], str(1000 + i), uuid, r["SubmissionDate"], "", "", "submitted_via_web",
                    "enumerator", "vAbC", "", str(i)]
            rows.append(row)
        write(os.path.join(out, f"{stem}.csv"), header, rows)
        written[f"{stem}.csv"] = header
        for full, (path, rfields) in repeats.items():
            rname = path[-1]
            sim = read(os.path.join(simdir, f"{stem}-{rname}.csv"))
            header = ["/".join(path + p) for p, _ in rfields] + [
                "_index", "_parent_table_name", "_parent_index", "_submission__id", "_submission__uuid"]
            rows = []
            for j, r in enumerate(sim, start=1):
                parent = index[r["PARENT_KEY"]]
                rows.append([value(r, p, path) for p, _ in rfields] + [str(j), stem, str(parent), str(1000 + parent), ""])
            write(os.path.join(out, f"{stem}-{rname}.csv"), header, rows)
            written[f"{stem}-{rname}.csv"] = header
    json.dump(written, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
