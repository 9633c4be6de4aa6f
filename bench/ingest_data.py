"""Writes the ingest benchmark's data: HOUSEHOLDS rows of bench_hh.csv (40 columns plus
ODK Central metadata) and about 4 rows of bench_hh-members.csv per household, valid
against bench/ingest_survey.yaml. Deterministic (seeded).

    python bench/ingest_data.py HOUSEHOLDS DIR
"""

import csv
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(2025)
top_cols = (["SubmissionDate", "hh_id", "county", "visit", "size", "coop", "dividend", "crops", "output"]
            + [f"i{k:02d}" for k in range(1, 11)] + [f"d{k:02d}" for k in range(1, 11)]
            + [f"s{k:02d}" for k in range(1, 8)] + ["t01", "t02", "t03", "gps", "name", "meta-instanceID", "KEY"])
with open(f"{out}/bench_hh.csv", "w", newline="") as f, open(f"{out}/bench_hh-members.csv", "w", newline="") as g:
    top, kids = csv.writer(f), csv.writer(g)
    top.writerow(top_cols)
    kids.writerow(["age", "sex", "works", "earnings", "PARENT_KEY", "KEY"])
    for h in range(n):
        key = f"uuid:{h:08d}"
        size = 1 + rng.randrange(7)  # about 4 members on average
        coop = rng.randrange(2)
        crops = " ".join(c for c in ["barley", "yak", "herbs", "fruit"] if rng.random() < 0.4)
        row = ["2025-07-01T10:00:00.000Z", f"HH{h:08d}", 1 + rng.randrange(2000), "2025-06-15", size, coop,
               f"{rng.random() * 500:.2f}" if coop else "", crops, f"{rng.random() * 9000:.2f}" if crops else ""]
        row += [rng.randrange(1001) for _ in range(10)] + [f"{rng.random() * 1000:.3f}" for _ in range(10)]
        row += [1 + rng.randrange(5) for _ in range(5)] + [rng.randrange(2) for _ in range(2)]
        row += ["text a", "text b", "text c", f"{30 + rng.random():.5f} {90 + rng.random():.5f} 3000 5", f"name {h}", key, key]
        top.writerow(row)
        for m in range(size):
            age = rng.randrange(80)
            works = (rng.randrange(2) if age >= 15 else "")
            kids.writerow([age, 1 + rng.randrange(5), works, f"{rng.random() * 3000:.2f}" if works == 1 else "", key, f"{key}/members[{m + 1}]"])
