"""Fill a review packet's rating sheet as simulated raters would, to exercise ``python -m ecgnet agreement``.

    python experiments/simulate_ratings.py REVIEW_DIR OUT_DIR [--raters 2] [--agree 0.9] [--seed 0]

Not clinical data: each simulated rater answers the key's training label, flipped with
probability 1 - ``--agree`` (independently per rater, seeded), and says "unsure" for one
case in twenty. It shows the command's tables on a real packet; the kappas mean nothing
about the ECGs.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def main() -> None:
    """Write OUT_DIR/rater_K.csv for K = 1..--raters from REVIEW_DIR's key and blank sheet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("review_dir", type=Path, help="the --out folder of `python -m ecgnet review`")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--raters", type=int, default=2)
    parser.add_argument("--agree", type=float, default=0.9, help="probability of answering the training label")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(args.review_dir / "key" / "key.csv", newline="") as handle:
        key = {row["case"]: row for row in csv.DictReader(handle)}
    with open(args.review_dir / "packet" / "rating_sheet.csv", newline="") as handle:
        blank = list(csv.DictReader(handle))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for rater in range(1, args.raters + 1):
        rows = []
        for row in blank:
            label = key[row["case"]]["label"] == "1"
            answer = label if rng.random() < args.agree else not label
            present = "unsure" if rng.random() < 0.05 else ("yes" if answer else "no")
            rows.append({**row, "present": present, "comment": "simulated"})
        with open(args.out_dir / f"rater_{rater}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(blank[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(args.out_dir / f"rater_{rater}.csv")


if __name__ == "__main__":
    main()
