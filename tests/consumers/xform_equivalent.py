"""Whether two XForms (as pyxform writes them) are equivalent: the same instance tree,
the same binds (type, relevant, constraint, calculate, required, readonly) and the same
itext, outside the platform's `meta` block.

    python xform_equivalent.py ORIGINAL.xml ROUNDTRIP.xml [--skip name,name...]

`--skip` names questions an import warned about (kept as another type, a dropped
expression): their nodes and binds are left out, and so are itext entries and choice
lists that belong to them. Exit 0 when equivalent, else 1 with the differences printed.
Translations are compared without their names (`English` and `English (en)` are the same
language to ODK), as multisets of (text id, text) per language.
"""

import re
import sys
import xml.etree.ElementTree as ET

NS = {"h": "http://www.w3.org/1999/xhtml", "x": "http://www.w3.org/2002/xforms"}
JR = "{http://openrosa.org/javarosa}"
BIND_ATTRS = ["type", "relevant", "constraint", "calculate", "required", "readonly"]


def skipped(path, skip):
    return any(
        part in skip or any(part.startswith(s + "_") or part.startswith(s + "-") for s in skip)
        for part in path.split("/")
    )


def tree(root, skip):
    inst = root.find("h:head/x:model/x:instance", NS)
    data = list(inst)[0]
    out = []

    def walk(node, path):
        for child in node:
            tag = child.tag.split("}")[-1]
            p = f"{path}/{tag}"
            if tag == "meta" or skipped(p, skip):
                continue
            out.append(p)
            walk(child, p)

    walk(data, "")
    return out


ROOT = {"name": "data"}


def norm(expr):
    """An expression without white space, its absolute paths rooted at `/data/` (pyxform
    names the root after the form or the file)."""
    e = re.sub(r"\s+", "", expr or "")
    return e.replace("/" + ROOT["name"] + "/", "/data/")


def binds(root, skip):
    inst = root.find("h:head/x:model/x:instance", NS)
    ROOT["name"] = list(inst)[0].tag.split("}")[-1]
    out = {}
    for b in root.findall("h:head/x:model/x:bind", NS):
        node = b.get("nodeset")
        rel = "/".join(node.split("/")[2:])
        if rel.startswith("meta/") or skipped(rel, skip):
            continue
        out[rel] = {a: norm(b.get(a)) for a in BIND_ATTRS if b.get(a) is not None}
    return out


def itext(root, skip):
    langs = []
    for t in root.findall("h:head/x:model/x:itext/x:translation", NS):
        entries = set()
        for text in t.findall("x:text", NS):
            tid = text.get("id")
            if skipped(tid.split(":")[0], skip):
                continue
            values = tuple(sorted(("".join(v.itertext()).strip(), v.get("form") or "") for v in text.findall("x:value", NS)))
            entries.add((tid, values))
        if entries:
            langs.append(frozenset(entries))
    return sorted(langs, key=lambda s: sorted(s))


def choices(root, skip):
    out = {}
    for inst in root.findall("h:head/x:model/x:instance", NS):
        iid = inst.get("id")
        # An external instance (pulldata's CSV, a select from a file) is the device's.
        if not iid or inst.get("src") or skipped(iid, skip):
            continue
        out[iid] = [tuple((c.tag, (c.text or "").strip()) for c in item) for item in inst.iter("{%s}item" % NS["x"])]
    return out


def main():
    args = sys.argv[1:]
    skip = set()
    if "--skip" in args:
        i = args.index("--skip")
        skip = {s for s in args[i + 1].split(",") if s}
        del args[i : i + 2]
    a, b = (ET.parse(p).getroot() for p in args)
    problems = []
    for what, f in [("instance tree", tree), ("binds", binds), ("itext", itext), ("choice lists", choices)]:
        x, y = f(a, skip), f(b, skip)
        if x != y:
            if isinstance(x, dict):
                keys = sorted(set(x) | set(y))
                diff = [f"  {k}: {x.get(k)} != {y.get(k)}" for k in keys if x.get(k) != y.get(k)]
            elif what == "itext":
                diff = [f"  only in original: {sorted(set().union(*x) - set().union(*y))[:5]}",
                        f"  only in round trip: {sorted(set().union(*y) - set().union(*x))[:5]}"]
            else:
                diff = [f"  original: {x}", f"  round trip: {y}"]
            problems.append(f"{what} differ:\n" + "\n".join(diff[:20]))
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print("equivalent")


if __name__ == "__main__":
    main()
