#!/usr/bin/env python
"""Score model outputs against labels with the 2021 challenge metrics.

    python evaluate_model.py LABELS OUTPUTS [SCORES_CSV [CLASS_SCORES_CSV]]

The official 2021 command line and file layouts (output files start with ``#RECORD_ID``),
values at full precision instead of 3 decimals; the 2021 weights come with ecgnet, not
from the working directory. The rules are in ecgnet/scoring2021.py, the maths in
ecgnet/challenge/metrics.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgnet.fileio import atomic_write_text
from ecgnet.scoring import ScoringError, scores_text
from ecgnet.scoring2021 import class_scores_text, evaluate, load_directories


def main(argv: list[str] | None = None) -> int:
    """The command: print the scores (and write the files asked for); exit status 0, or 1 when nothing can be scored or written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label_dir", type=Path, help="directory of NAME.hea label files (#Dx lines)")
    parser.add_argument("output_dir", type=Path, help="directory of NAME.csv model outputs")
    parser.add_argument("scores_csv", type=Path, nargs="?", help="file to write the five scores to")
    parser.add_argument("class_scores_csv", type=Path, nargs="?", help="file to write the per-class AUROC, AUPRC and F-measure to")
    args = parser.parse_args(argv)
    try:
        data = load_directories(args.label_dir, args.output_dir)
    except ScoringError as exc:
        print(f"error: {exc}; no scores written", file=sys.stderr)
        return 1
    for problem in data.bad_outputs:
        print(f"warning: {problem}; counted as all-negative", file=sys.stderr)
    values, per_class = evaluate(data)
    text = scores_text(values)
    for path, content in ((args.scores_csv, text), (args.class_scores_csv, class_scores_text(per_class))):
        if path is not None:
            try:
                atomic_write_text(path, content)
            except OSError as exc:
                print(f"error: cannot write {path} ({exc.strerror or exc})", file=sys.stderr)
                return 1
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
