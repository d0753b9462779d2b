#!/usr/bin/env python
"""Score model outputs against labels with the 2020 challenge metrics.

    python evaluate_12ECG_score.py LABEL_DIR OUTPUT_DIR [SCORES_CSV]

The official command line and scores-file layout, values at full precision
instead of 3 decimals; the maths is in ecgnet/challenge/metrics.py, the file handling in
ecgnet/scoring.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgnet.challenge import metrics
from ecgnet.fileio import atomic_write_text
from ecgnet.scoring import ScoringError, load_directories, scores_text


def main(argv: list[str] | None = None) -> int:
    """The command: print the scores (and write SCORES_CSV); exit status 0, or 1 when nothing can be scored or written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label_dir", type=Path, help="directory of NAME.hea label files (#Dx lines)")
    parser.add_argument("output_dir", type=Path, help="directory of NAME.csv model outputs")
    parser.add_argument("scores_csv", type=Path, nargs="?", help="file to write the scores to")
    args = parser.parse_args(argv)
    try:
        data = load_directories(args.label_dir, args.output_dir)
    except ScoringError as exc:
        print(f"error: {exc}; no scores written", file=sys.stderr)
        return 1
    for problem in data.bad_outputs:
        print(f"warning: {problem}; counted as all-negative", file=sys.stderr)
    text = scores_text(metrics.compute_all(data.labels, data.outputs, data.probabilities))
    if args.scores_csv is not None:
        try:
            atomic_write_text(args.scores_csv, text)
        except OSError as exc:
            print(f"error: cannot write {args.scores_csv} ({exc.strerror or exc})", file=sys.stderr)
            return 1
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
